"""Giving a clinic order's reserved vials back when it will not be filled (canceled, or rejected by
the pharmacy), in the same commit as the fact that says so.

Called by whoever records that fact (`service.orders.cancel_order`, the pharmacy webhook); it adds
`PharmacyStockReleased` to the batch at the pharmacy's current version, once per order.
"""

from __future__ import annotations

from adapters.eventstore import LedgerStore
from domain.clinic.pharmacies import release_stock
from domain.clinic.routing import clinic_pharmacy_id
from domain.events import Fact
from domain.orders import Order, OrderCanceled, PharmacyOrderRejected
from service.unit import Batch, try_load


def release_if_unfilled(store: LedgerStore, batch: Batch, order: Order, fact: Fact) -> None:
    if not isinstance(fact, OrderCanceled | PharmacyOrderRejected):
        return
    pharmacy_id = clinic_pharmacy_id(order)
    pharmacy = try_load(store, "pharmacy", pharmacy_id) if pharmacy_id else None
    if pharmacy is None or pharmacy.organization_id != batch.ctx.organization_id:
        return
    line = order.placed.lines[0]  # a clinic order holds one cart line
    reason = "canceled" if isinstance(fact, OrderCanceled) else "rejected by the pharmacy"
    batch.extend(pharmacy, *release_stock(pharmacy.state, order.id, line.product_id, line.quantity, reason))
