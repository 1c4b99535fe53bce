"""Stuck orders for ops (`GET /ops/stuck`, the console's stuck page): paged, filtered, each with the fix.

The fix is an operation the API accepts for the order *now*: the blocker's action code
(`domain.explain`) says what would clear it, and each candidate operation is checked against the same
refusal rule its route applies (`retry_refusal`, `new_consult_refusal`, `resubmit_refusals` and the
gate, `refund_refusal`, `cancel_refusal`, …) before it is offered. When the preferred one would be
refused, the next that would not is offered (after a cancelled consult: a new consult, not a retry;
a rejection the gate would hold again: a refund); when none would be accepted, no fix is offered.
The words and the HTTP call for each operation are in `api/presentation.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from domain.explain import Action, Blocker
from domain.gate import Hold, decide
from domain.invoices import Invoice
from domain.orders import Order, evolve_order
from domain.resubmission import resubmission, resubmit_refusals
from domain.status import order_status
from projections import stuck as view
from projections.db import ViewDatabase
from projections.runner import Projection, catch_up
from service.deps import Deps
from service.fulfillment import gate_facts
from service.medical_review import new_consult_refusal, retry_refusal
from service.orders import cancel_refusal, refund_refusal
from service.unit import Context, try_load

FixOperation = Literal[
    "RETRY_MEDICAL_REVIEW",
    "START_NEW_CONSULT",
    "RESUBMIT_TO_PHARMACY",
    "REFUND",
    "CANCEL",
    "RECORD_INTAKE",
    "RECORD_LAB_REQUISITION",
]
# What to try, in order, for each action a blocker names; actions absent here have no API operation
# (waiting, asking the patient to pay, asking medical operations, escalating to development).
_CANDIDATES: dict[Action, tuple[FixOperation, ...]] = {
    "RETRY_MEDICAL_REVIEW": ("RETRY_MEDICAL_REVIEW",),
    "FIX_PRODUCT_AND_RETRY_REVIEW": ("RETRY_MEDICAL_REVIEW",),
    "START_NEW_CONSULT": ("START_NEW_CONSULT", "REFUND"),
    "RESUBMIT_TO_PHARMACY": ("RESUBMIT_TO_PHARMACY", "REFUND"),
    "CANCEL_OR_REFUND": ("REFUND", "CANCEL"),
    "RECORD_INTAKE": ("RECORD_INTAKE",),
    "ISSUE_LAB_REQUISITION": ("RECORD_LAB_REQUISITION",),
}


@dataclass(frozen=True)
class StuckOrder:
    order_id: str
    order_number: str
    patient_id: str
    status: str
    since: datetime
    age_seconds: float
    blocker: Blocker
    needs_action: bool
    fix: FixOperation | None  # None: nothing the API can do; the blocker's words say what to do


@dataclass(frozen=True)
class StuckPage:
    orders: list[StuckOrder]
    total: int
    next_after: str | None


def accepts(
    deps: Deps,
    ctx: Context,
    op: FixOperation,
    order: Order,
    invoice: Invoice | None,
    partners: frozenset[str],
) -> bool:
    """Would the route behind `op` accept this order now? The routes' own refusal rules, asked first."""
    closed = order_status(order) in ("CANCELED", "REFUNDED", "REJECTED")
    match op:
        case "RETRY_MEDICAL_REVIEW":
            return retry_refusal(order) is None
        case "START_NEW_CONSULT":
            return new_consult_refusal(order) is None
        case "RESUBMIT_TO_PHARMACY":
            if resubmit_refusals(order):
                return False
            draft = resubmission(order, order.fulfillment_partner or "", "check", ctx.actor.label())
            after = evolve_order(order, draft, order.id)
            return not isinstance(decide(gate_facts(deps, ctx, after, partners)), Hold)
        case "REFUND":
            return invoice is not None and refund_refusal(order, invoice) is None
        case "CANCEL":
            return cancel_refusal(order) is None
        case "RECORD_INTAKE":
            return not closed and not order.fulfillment_released and order.intake_status != "accepted"
        case "RECORD_LAB_REQUISITION":
            needs = any(ln.lab is not None and "requisition" in ln.lab.steps for ln in order.placed.lines)
            return needs and not closed and not order.fulfillment_released and not order.lab_requisition
    return False


def fix_for(
    deps: Deps,
    ctx: Context,
    order: Order,
    invoice: Invoice | None,
    blocker: Blocker,
    partners: frozenset[str],
) -> FixOperation | None:
    for op in _CANDIDATES.get(blocker.action, ()):
        if accepts(deps, ctx, op, order, invoice, partners):
            return op
    return None


def stuck_orders(
    deps: Deps,
    views: ViewDatabase,
    projections: Sequence[Projection],
    ctx: Context,
    now: datetime,
    *,
    partners: frozenset[str],
    code: str | None = None,
    status: str | None = None,
    older_than: timedelta | None = None,
    only_action: bool = False,
    payment_overdue_after: timedelta | None = None,
    after: str | None = None,
    limit: int = 50,
) -> StuckPage:
    """Open orders not moving, longest stuck first, each with the fix the API would accept now."""
    for projection in projections:
        if projection.name == "stuck_orders":
            catch_up(deps.store, views, projection)  # read your writes
    rows, total = view.stuck_page(
        views,
        ctx.organization_id,
        code=code,
        status=status,
        since_before=now - older_than if older_than is not None else None,
        only_action=only_action,
        payment_overdue_before=now - payment_overdue_after if payment_overdue_after else None,
        after=view.parse_cursor(after),
        limit=limit + 1,
    )
    found = []
    for row in rows[:limit]:
        loaded = try_load(deps.store, Order, row.order_id)
        order = loaded.state if loaded is not None else None
        invoice_loaded = try_load(deps.store, Invoice, order.placed.invoice_id) if order else None
        invoice = invoice_loaded.state if invoice_loaded is not None else None
        fix = fix_for(deps, ctx, order, invoice, row.blocker, partners) if order is not None else None
        age = max(0.0, (now - row.since).total_seconds())
        overdue = payment_overdue_after is not None and age >= payment_overdue_after.total_seconds()
        needs = row.needs_action or (row.blocker.code == "PAYMENT_IN_PROGRESS" and overdue)
        found.append(
            StuckOrder(
                row.order_id,
                row.number,
                row.patient_id,
                row.status,
                row.since,
                round(age, 1),
                row.blocker,
                needs,
                fix,
            )
        )
    next_after = view.cursor_of(rows[limit - 1]) if len(rows) > limit else None
    return StuckPage(found, total, next_after)
