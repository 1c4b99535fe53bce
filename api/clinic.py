"""Clinic ordering over HTTP: every /clinic/... route, combined for `api.app`.

`clinic_cart` (cart, validation, checkout), `clinic_fill` (quickfills, reorder, pharmacy options,
the clinic's card) for the clinic role; `clinic_admin` (directory set-up) for staff and service.
"""

from __future__ import annotations

from api import clinic_admin, clinic_cart, clinic_fill

routes = [*clinic_cart.routes, *clinic_fill.routes, *clinic_admin.routes]
