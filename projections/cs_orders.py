"""The CS view's history half (domain.support.history_view), one JSON document per order.

An event on an order, its invoice or its refill request recomputes that order, the original it refills
and the original's other refills (their duplicate check and `original_order` block read each other).
The catalog half — current price, active flag, eligibility now — is added when the view is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from domain.events import Recorded
from domain.invoices import Invoice
from domain.orders import Order
from domain.refills import Refill
from domain.support import history_view
from projections.db import ViewDatabase
from projections.folding import OrderRowProjection, dumps


class CsOrdersProjection(OrderRowProjection):
    name = "cs_orders"
    view = "cs_orders"
    aggregates = ("order", "invoice", "refill")
    columns = (
        ("organization_id", "TEXT NOT NULL"),
        ("patient_id", "TEXT NOT NULL"),
        ("number", "TEXT NOT NULL"),
        ("status", "TEXT NOT NULL"),
        ("escalations", "TEXT NOT NULL"),
        ("doc", "TEXT NOT NULL"),
    )
    indexes = ("organization_id, number", "patient_id", "escalations")

    def affected(self, event: Recorded, before: Any, after: Any) -> Iterable[str]:
        direct: list[str] = []
        if isinstance(after, Order):
            direct = [after.id]
        elif isinstance(after, Invoice):
            direct = list(after.issued.order_ids)
        elif isinstance(after, Refill):
            direct = [after.requested.refill_order_id, after.requested.original_order_id]
        found: dict[str, None] = {}
        for order_id in direct:
            found[order_id] = None
            order: Order | None = self.cache.get("order", order_id)
            if order is None:
                continue
            found.update((r.refill_order_id, None) for r in order.refills)
            original: Order | None = self.cache.get("order", order.placed.refill_of_order_id)
            if original is not None:
                found[original.id] = None
                found.update((r.refill_order_id, None) for r in original.refills)
        return found

    def row(self, order_id: str, last: Recorded) -> tuple[Any, ...] | None:
        order: Order | None = self.cache.get("order", order_id)
        if order is None:
            return None
        doc = self.document(order)
        # `escalations` is kept empty: escalations are events now (projections/escalations.py); the
        # column stays so that tables built before keep their shape.
        return (last.meta.organization_id, order.patient_id, order.number, doc["status"], "", dumps(doc))

    def document(self, order: Order) -> dict[str, Any]:
        invoice: Invoice | None = self.cache.get("invoice", order.placed.invoice_id)
        original: Order | None = self.cache.get("order", order.placed.refill_of_order_id)
        refill: Refill | None = None
        if original is not None:
            opened = next((r for r in original.refills if r.refill_order_id == order.id), None)
            refill = self.cache.get("refill", opened.refill_id) if opened else None
        return history_view(order, invoice, refill=refill, original=original)


def cs_document(db: ViewDatabase, organization_id: str, order_id: str) -> dict[str, Any] | None:
    with db.transaction() as cur:
        cur.execute(
            "SELECT doc FROM cs_orders WHERE organization_id = %s AND order_id = %s",
            (organization_id, order_id),
        )
        row = cur.fetchone()
    return json.loads(row[0]) if row else None
