"""A clinic order's vials at its pharmacy: given back when it will not be filled (canceled, or
rejected by the pharmacy) in the same commit as the fact that says so, and taken again when a
rejected line is resubmitted.

`release_if_unfilled` is called by whoever records the closing fact (`service.orders.cancel_order`,
the pharmacy webhook); it adds `PharmacyStockReleased` to the batch at the pharmacy's current
version, once per order. `reserve_again` appends a new reservation at the version it checked the
stock against (a concurrent checkout makes it conflict and check again), or refuses OUT_OF_STOCK.
"""

from __future__ import annotations

from adapters.eventstore import LedgerStore
from domain.clinic.pharmacies import Pharmacy, PharmacyStockReserved, release_stock
from domain.clinic.routing import clinic_pharmacy_id
from domain.errors import NotEligible
from domain.events import Fact
from domain.orders import Order, OrderCanceled, PharmacyOrderRejected
from service.deps import Deps, retry_on_conflict
from service.unit import Batch, Context, load_owned, try_load


def release_if_unfilled(store: LedgerStore, batch: Batch, order: Order, fact: Fact) -> None:
    if not isinstance(fact, OrderCanceled | PharmacyOrderRejected):
        return
    pharmacy_id = clinic_pharmacy_id(order)
    pharmacy = try_load(store, Pharmacy, pharmacy_id) if pharmacy_id else None
    if pharmacy is None or pharmacy.organization_id != batch.ctx.organization_id:
        return
    line = order.placed.lines[0]  # a clinic order holds one cart line
    reason = "canceled" if isinstance(fact, OrderCanceled) else "rejected by the pharmacy"
    batch.extend(pharmacy, *release_stock(pharmacy.state, order.id, line.product_id, line.quantity, reason))


def reserve_again(deps: Deps, ctx: Context, order: Order) -> None:
    pharmacy_id = clinic_pharmacy_id(order)
    if pharmacy_id is None:
        return
    line = order.placed.lines[0]

    def attempt() -> None:
        loaded = load_owned(deps.store, ctx, Pharmacy, pharmacy_id)
        pharmacy: Pharmacy = loaded.state
        offering = pharmacy.offering(line.product_id)
        if order.id in pharmacy.reservations or offering is None:
            return
        if offering.on_hand < line.quantity:
            raise NotEligible(
                f"{pharmacy.name} has {max(offering.on_hand, 0)} vial(s) left; "
                f"this line needs {line.quantity}.",
                reasons=("OUT_OF_STOCK",),
            )
        batch = deps.batch(ctx)
        reserved = PharmacyStockReserved(
            product_id=line.product_id, quantity=line.quantity, order_id=order.id
        )
        batch.extend(loaded, reserved)
        deps.commit(batch)

    retry_on_conflict(attempt)


def release(deps: Deps, ctx: Context, order: Order, reason: str) -> None:
    """Give back what `reserve_again` took when the resubmission it was for did not happen."""
    pharmacy_id = clinic_pharmacy_id(order)
    if pharmacy_id is None:
        return

    def attempt() -> None:
        loaded = load_owned(deps.store, ctx, Pharmacy, pharmacy_id)
        line = order.placed.lines[0]
        batch = deps.batch(ctx)
        batch.extend(loaded, *release_stock(loaded.state, order.id, line.product_id, line.quantity, reason))
        deps.commit(batch)

    retry_on_conflict(attempt)
