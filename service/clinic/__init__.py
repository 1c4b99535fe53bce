"""Clinic ordering commands, one import for callers: directory set-up, the cart, checkout, filling.

The work lives in `directory` (staff set-up, `clinic_of`), `cart` (lines, view,
validation), `checkout` (one payment, one order per line), `fill` (quickfills,
reorder, pharmacy options) and `routing` (what the fulfillment gate asks about a clinic order).
"""

from __future__ import annotations

from domain.clinic.cart import LineDraft
from service.clinic.cart import (
    CartView,
    add_lines,
    cart_world,
    change_line,
    get_cart,
    open_cart,
    remove_line,
    validate,
    validate_only,
)
from service.clinic.checkout import CheckoutResult, checkout
from service.clinic.directory import (
    all_pharmacies,
    clinic_of,
    enroll_patient,
    get_clinic,
    get_pharmacy,
    get_prescriber,
    register_clinic,
    register_clinic_user,
    register_pharmacy,
    register_prescriber,
    report_stock,
    save_clinic_payment_method,
    set_offering,
)
from service.clinic.fill import apply_quickfill, pharmacy_options, reorder, save_quickfill
from service.clinic.routing import route_clinic_order

__all__ = [
    "CartView",
    "CheckoutResult",
    "LineDraft",
    "add_lines",
    "all_pharmacies",
    "apply_quickfill",
    "cart_world",
    "change_line",
    "checkout",
    "clinic_of",
    "enroll_patient",
    "get_cart",
    "get_clinic",
    "get_pharmacy",
    "get_prescriber",
    "open_cart",
    "pharmacy_options",
    "register_clinic",
    "register_clinic_user",
    "register_pharmacy",
    "register_prescriber",
    "remove_line",
    "reorder",
    "report_stock",
    "route_clinic_order",
    "save_clinic_payment_method",
    "save_quickfill",
    "set_offering",
    "validate",
    "validate_only",
]
