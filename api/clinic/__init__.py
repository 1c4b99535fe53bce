"""Clinic ordering over HTTP: every /clinic/... route, combined for `api.app`.

`cart` (cart, validation, checkout), `fill` (quickfills, reorder, pharmacy options,
the clinic's card) `reads` (the clinic's lists) and `rejections`
(resubmit or refund a rejected paid line) for the clinic role; `admin` (directory
set-up) for staff and service.
"""

from __future__ import annotations

from api.clinic import admin, cart, fill, reads, rejections

routes = [*cart.routes, *fill.routes, *reads.routes, *rejections.routes, *admin.routes]
