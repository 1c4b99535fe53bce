"""The order page's actions: only those the role may take and the service would accept right now.

Each action asks the same question its service function asks before acting (`…_refusal`), so a button
is never shown for a command the API would refuse. Posting one records the operator's reason
(`ConsoleActionTaken`, with the session and the actor) and then runs the service function itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.console.order_view import OrderView
from api.console.pages import Page
from domain.errors import Conflict, InvalidCommand
from domain.invoices import Invoice
from domain.orders import Order
from domain.resubmission import pharmacy_problem, resubmit_refusals
from service import catalog, console_sessions, medical_review, orders, resubmission

PRODUCT_FIELDS = {"MED_ID_MISSING": "med_id", "VISIT_TYPE_MISSING": "visit_type"}


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    roles: tuple[str, ...]
    preview: str  # what will happen, shown before it is submitted
    danger: bool = False
    fields: dict[str, str] = field(default_factory=dict)  # extra inputs: name -> label


def _beluga(call: Page) -> Any:
    return call.runtime.beluga


def _partners(call: Page) -> frozenset[str]:
    return frozenset(call.runtime.pharmacies)


def available(call: Page, view: OrderView) -> list[Action]:
    """The actions this role may take on this order now."""
    return offered(call.principal.role, view.order, view.invoice, view.blockers)


def offered(
    role: str, order: Order, invoice: Invoice | None, waiting_for: Sequence[Mapping[str, Any]]
) -> list[Action]:
    """The same, from the order's and invoice's folded state and its blockers (as the CS view has them)."""
    found: list[Action] = []
    if medical_review.retry_refusal(order) is None:
        found.append(
            Action(
                "retry-review",
                "Retry medical review",
                ("ops", "cs"),
                f"Sends the visit to Beluga again under the same masterId ({order.master_id or 'new'}).",
            )
        )
    if medical_review.new_consult_refusal(order) is None:
        found.append(
            Action(
                "new-consult",
                "Start a new consult",
                ("ops", "cs", "staff"),
                "Opens a new consult (next masterId) and submits it to Beluga.",
            )
        )
    for blocker in waiting_for:
        product_field = PRODUCT_FIELDS.get(blocker.get("cause") or "")
        if blocker.get("action") in ("FIX_PRODUCT_AND_RETRY_REVIEW", "FIX_PRODUCT") and product_field:
            found.append(
                Action(
                    "fix-mapping",
                    "Fix the product's Beluga mapping",
                    ("staff",),
                    f"Sets the product's Beluga {product_field} for every future order; then CS or ops "
                    "retries this order's medical review.",
                    fields={product_field: f"Beluga {product_field}"},
                )
            )
            break
    problem = pharmacy_problem(order)
    if not resubmit_refusals(order) and problem is not None:
        found.append(
            Action(
                "resubmit",
                "Resubmit to the pharmacy",
                ("staff", "ops"),
                f"The pharmacy said: {problem}. Sends the order again under a new attempt key, after the "
                "fulfillment gate checks it again.",
            )
        )
    if invoice is not None and orders.refund_refusal(order, invoice) is None:
        amount = sum(line.unit_price_cents * line.quantity for line in order.placed.lines)
        paid = invoice.succeeded_attempt
        found.append(
            Action(
                "refund",
                "Refund",
                ("staff",),
                f"Refunds ${amount / 100:,.2f} through {paid.gateway if paid else 'the gateway'}; "
                "the order becomes REFUNDED and nothing further happens.",
                danger=True,
            )
        )
    if orders.cancel_refusal(order) is None:
        found.append(
            Action(
                "cancel",
                "Cancel",
                ("staff",),
                "Cancels the unpaid order and voids its open invoice.",
                danger=True,
            )
        )
    return [a for a in found if role in a.roles]


def _product_id(view: OrderView) -> str:
    for blocker in view.blockers:
        if blocker.get("product_id"):
            return str(blocker["product_id"])
    raise Conflict("No product mapping is missing on this order.", reasons=("NOTHING_TO_FIX",))


def _fix_mapping(call: Page, view: OrderView) -> None:
    changes = {
        name: call.field(name) for name in ("med_id", "visit_type") if name in call.form and call.field(name)
    }
    if not changes:
        raise InvalidCommand("Enter the missing value.", field="med_id")
    catalog.change_product(call.runtime.deps, call.ctx(), _product_id(view), {"medical_review": changes})


RUN: dict[str, Callable[[Page, OrderView, str], object]] = {
    "retry-review": lambda call, view, reason: medical_review.retry(
        call.runtime.deps, call.ctx(), view.order.id, _beluga(call)
    ),
    "new-consult": lambda call, view, reason: medical_review.start_new_consult(
        call.runtime.deps, call.ctx(), view.order.id, reason, _beluga(call)
    ),
    "fix-mapping": lambda call, view, reason: _fix_mapping(call, view),
    "resubmit": lambda call, view, reason: resubmission.resubmit_to_pharmacy(
        call.runtime.deps, call.ctx(), view.order.id, reason, _partners(call)
    ),
    "refund": lambda call, view, reason: orders.refund_order(
        call.runtime.deps, call.ctx(), view.order.id, reason
    ),
    "cancel": lambda call, view, reason: orders.cancel_order(
        call.runtime.deps, call.ctx(), view.order.id, reason
    ),
}


def take(call: Page, view: OrderView, name: str) -> Action:
    """Run one action for this session: refused unless offered now, recorded with its reason first."""
    offered = {a.name: a for a in available(call, view)}
    action = offered.get(name)
    if action is None:
        raise Conflict(
            "That action is not available for this order and role now; the page shows the ones that are.",
            reasons=("ACTION_NOT_AVAILABLE",),
        )
    reason = call.field("reason")
    if not reason:
        raise InvalidCommand("Say why: a reason is required.", field="reason", reasons=("REASON_REQUIRED",))
    assert call.session is not None
    console_sessions.record_action(
        call.runtime.deps, call.ctx(), call.session.id, action=name, order_id=view.order.id, reason=reason
    )
    RUN[name](call, view, reason)
    return action
