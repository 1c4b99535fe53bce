"""Where a clinic order goes: the partner adapter and the codes the fulfillment gate submits.

A portal order is routed by its product's catalog mapping (`Product.pharmacy`). A clinic order was
routed when the clinic chose a pharmacy for its line: `OrderLine.pharmacy_id` names a *pharmacy
record* (`domain.clinic.pharmacies.Pharmacy`), whose `partner` is the adapter key ("belmar",
"dispensepro"). The gate loads that record and the product, then calls `clinic_route`; a `None`
route's `missing` reasons are its "pharmacy configuration present" check failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.catalog import Product
from domain.clinic.pharmacies import Pharmacy
from domain.orders import Order


@dataclass(frozen=True)
class RoutedLine:
    product_id: str
    product_code: str  # the pharmacy's code for it
    quantity: int
    sig: str
    controlled: bool = False  # the pharmacy must be sent the prescriber's DEA number


@dataclass(frozen=True)
class ClinicRoute:
    partner: str  # the pharmacy adapter key
    pharmacy_id: str
    lines: tuple[RoutedLine, ...]


@dataclass(frozen=True)
class Unroutable:
    missing: tuple[str, ...]  # reasons, for the gate's FulfillmentHeld.failed_checks


def is_clinic_order(order: Order) -> bool:
    return order.placed.source == "CLINIC_CART"


def clinic_pharmacy_id(order: Order) -> str | None:
    """The pharmacy record a clinic order was routed to (None: not a clinic order, or no pharmacy)."""
    if not is_clinic_order(order):
        return None
    return next((ln.pharmacy_id for ln in order.placed.lines if ln.pharmacy_id), None)


def rx_med_id(product: Product) -> str:
    """The medId a clinic's in-house RxWritten names: Beluga's drug id when mapped, else the product id."""
    mapped = product.medical_review.med_id if product.medical_review else None
    return mapped or product.id


def clinic_route(
    order: Order, pharmacy: Pharmacy | None, products: dict[str, Product]
) -> ClinicRoute | Unroutable:
    """Pure: the partner and per-line codes for a clinic order, or why it cannot be routed."""
    missing: list[str] = []
    if pharmacy is None or pharmacy.id != clinic_pharmacy_id(order):
        return Unroutable(("pharmacy_configured",))
    if not pharmacy.partner:
        missing.append("pharmacy_partner")
    lines = []
    for line in order.placed.lines:
        offering = pharmacy.offering(line.product_id)
        product = products.get(line.product_id)
        mapped = product.pharmacy.product_code if product and product.pharmacy else None
        code = (offering.product_code if offering else None) or mapped or line.sku
        if offering is None:
            missing.append("product_at_pharmacy")
        if not line.sig:
            missing.append("sig_present")
        controlled = offering.controlled if offering else False
        lines.append(RoutedLine(line.product_id, code, line.quantity, line.sig or "", controlled))
    if missing:
        return Unroutable(tuple(dict.fromkeys(missing)))
    return ClinicRoute(pharmacy.partner, pharmacy.id, tuple(lines))
