"""For the fulfillment gate: load what routing a clinic order needs and ask `domain.clinic.routing`.

`route_clinic_order(deps, ctx, order)` returns None for an order that is not a clinic order (route
it by the product's catalog mapping as before), a `ClinicRoute` (partner adapter key, pharmacy
record id, per-line product code / quantity / SIG), or `Unroutable(missing=...)` to hold on.
"""

from __future__ import annotations

from typing import TypeVar

from adapters.pharmacy import PharmacyPrescriber
from domain.catalog import Product
from domain.clinic.directory import Prescriber
from domain.clinic.pharmacies import Pharmacy
from domain.clinic.routing import ClinicRoute, Unroutable, clinic_pharmacy_id, clinic_route, is_clinic_order
from domain.orders import Order
from service.deps import Deps
from service.unit import Context, try_load

S = TypeVar("S")


def _owned(deps: Deps, ctx: Context, kind: type[S], aggregate_id: str) -> S | None:
    found = try_load(deps.store, kind, aggregate_id)
    if found is None or found.organization_id != ctx.organization_id:
        return None
    return found.state


def route_clinic_order(deps: Deps, ctx: Context, order: Order) -> ClinicRoute | Unroutable | None:
    if not is_clinic_order(order):
        return None
    pharmacy_id = clinic_pharmacy_id(order)
    pharmacy = _owned(deps, ctx, Pharmacy, pharmacy_id) if pharmacy_id else None
    products = {}
    for line in order.placed.lines:
        product = _owned(deps, ctx, Product, line.product_id)
        if product is not None:
            products[product.id] = product
    return clinic_route(order, pharmacy, products)


def pharmacy_prescriber(
    deps: Deps, ctx: Context, order: Order, route: ClinicRoute | Unroutable | None
) -> PharmacyPrescriber:
    """Who prescribed, as the pharmacy request carries it.

    A clinic order names the clinic's prescriber (name, NPI; the DEA number only when one of its
    lines is a controlled product); a portal order's prescriber is the telehealth network's, whose
    prescription the pharmacy finds by its reference.
    """
    line = order.placed.lines[0]
    found = _owned(deps, ctx, Prescriber, line.prescriber_id) if line.prescriber_id else None
    if not is_clinic_order(order) or not isinstance(found, Prescriber):
        return PharmacyPrescriber(rx_reference=order.master_id or order.id)
    controlled = isinstance(route, ClinicRoute) and any(ln.controlled for ln in route.lines)
    return PharmacyPrescriber(
        name=found.name, npi=found.npi, dea_number=found.dea_number if controlled else None
    )
