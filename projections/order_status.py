"""Order status as a table: one row per order with its computed status and since when it has held it."""

from __future__ import annotations

from typing import Any

from domain.events import Recorded
from domain.orders import Order
from domain.status import order_status
from projections.db import ViewDatabase
from projections.folding import OrderRowProjection


class OrderStatusProjection(OrderRowProjection):
    name = "order_status"
    view = "order_status"
    columns = (
        ("organization_id", "TEXT NOT NULL"),
        ("patient_id", "TEXT NOT NULL"),
        ("number", "TEXT NOT NULL"),
        ("source_context", "TEXT NOT NULL"),
        ("status", "TEXT NOT NULL"),
        ("status_since", "TEXT NOT NULL"),
        ("last_event_at", "TEXT NOT NULL"),
    )
    indexes = ("organization_id, status", "patient_id")
    partition_safe = True  # each row depends on its own order's events only (see replay.parallel)
    # A page that leaves the status as the row has it keeps the row's `status_since`.
    upsert_overrides = {
        "status_since": "CASE WHEN t.status = excluded.status THEN t.status_since "
        "ELSE excluded.status_since END"
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changed_at: dict[str, str] = {}
        self._status: dict[str, str] = {}  # status after the order's latest event in this page

    def observe(self, order_id: str, event: Recorded, before: Any, after: Any) -> None:
        status = order_status(after)
        if before is None or (self._status.get(order_id) != status and order_status(before) != status):
            self._changed_at[order_id] = event.meta.occurred_at.isoformat()
        self._status[order_id] = status

    def page_done(self) -> None:
        self._changed_at.clear()
        self._status.clear()

    def row(self, order_id: str, last: Recorded) -> tuple[Any, ...] | None:
        order: Order | None = self.cache.get("order", order_id)
        if order is None:
            return None
        at = last.meta.occurred_at.isoformat()
        return (
            last.meta.organization_id,
            order.patient_id,
            order.number,
            order.placed.source_context,
            self._status.get(order_id) or order_status(order),
            self._changed_at.get(order_id, at),
            at,
        )


def status_counts(db: ViewDatabase, organization_id: str) -> dict[str, int]:
    with db.transaction() as cur:
        cur.execute(
            "SELECT status, COUNT(*) FROM order_status WHERE organization_id = %s GROUP BY status",
            (organization_id,),
        )
        return {str(s): int(n) for s, n in cur.fetchall()}
