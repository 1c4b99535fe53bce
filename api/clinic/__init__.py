"""Clinic ordering over HTTP: every /clinic/... route, combined for `api.app`.

`cart` (cart, validation, checkout), `fill` (quickfills, reorder, pharmacy options,
the clinic's card) and `reads` (the clinic's lists) for the clinic role; `admin` (directory
set-up) for staff and service.
"""

from __future__ import annotations

from api.clinic import admin, cart, fill, reads

routes = [*cart.routes, *fill.routes, *reads.routes, *admin.routes]
