"""Clinic ordering over HTTP: every /clinic/... route, combined for `api.app`.

`cart` (cart, validation, checkout), `fill` (quickfills, reorder, pharmacy options,
the clinic's card) for the clinic role; `admin` (directory set-up) for staff and service.
"""

from __future__ import annotations

from api.clinic import admin, cart, fill

routes = [*cart.routes, *fill.routes, *admin.routes]
