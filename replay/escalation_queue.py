"""The escalation queue as CS reads it: open (or resolved) escalations oldest first, each with its
patient and the seed's report block as typed values. Shared by `GET /cs/escalations` and the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.eventstore import LedgerStore
from domain.escalation_report import EscalationReport, build_report
from domain.invoices import Invoice
from domain.orders import Order
from domain.parties import Patient
from projections.db import ViewDatabase
from projections.escalations import EscalationRow, list_escalations
from projections.runner import Projection, catch_up
from replay.history import load
from replay.support_view import active_gateway, products_of


@dataclass(frozen=True)
class QueueEntry:
    escalation: EscalationRow
    patient_name: str | None
    report: EscalationReport | None  # None when the order can no longer be read


@dataclass(frozen=True)
class QueuePage:
    entries: list[QueueEntry]
    total: int
    next_after: int | None


def escalation_report(store: LedgerStore, organization_id: str, order_id: str) -> EscalationReport | None:
    order = load(store, Order, order_id)
    if not isinstance(order, Order):
        return None
    invoice = load(store, Invoice, order.placed.invoice_id)
    patient = load(store, Patient, order.patient_id)
    original = load(store, Order, order.placed.refill_of_order_id)
    original = original if isinstance(original, Order) else None
    button_order = original if order.placed.source_context == "PATIENT_REFILL" else order
    return build_report(
        order,
        invoice if isinstance(invoice, Invoice) else None,
        patient if isinstance(patient, Patient) else None,
        original,
        products_of(store, button_order) if button_order is not None else {},
        active_gateway(store, organization_id),
    )


def escalation_queue(
    store: LedgerStore,
    views: ViewDatabase,
    projections: Sequence[Projection],
    organization_id: str,
    now: datetime,
    *,
    state: str = "open",
    kind: str | None = None,
    older_than: timedelta | None = None,
    order_id: str | None = None,
    after: int = 0,
    limit: int = 20,
) -> QueuePage:
    for projection in projections:
        if projection.name == "escalations":
            catch_up(store, views, projection)
    rows, total = list_escalations(
        views,
        organization_id,
        state=state,
        kind=kind,
        raised_before=now - older_than if older_than is not None else None,
        order_id=order_id,
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    reports: dict[str, EscalationReport | None] = {}
    entries = []
    for row in page:
        if row.order_id not in reports:
            reports[row.order_id] = escalation_report(store, organization_id, row.order_id)
        report = reports[row.order_id]
        entries.append(QueueEntry(row, report.patient_name if report else None, report))
    return QueuePage(entries, total, page[-1].position if len(rows) > limit else None)
