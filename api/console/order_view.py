"""Everything the order page shows, gathered from the service layer in one pass.

The CS view (`api.routes_support.cs_view`, the same document `GET /cs/orders/{id}` serves) answers the
seed's "What CS should check"; the folded order, invoice and patient add each payment attempt and the
care and fulfillment details; the timeline is `replay.timeline`. The page view itself is audited as an
`OrderHistoryRead`, as the API's timeline read is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from api.console.pages import Page
from api.console.words import actor_words, event_words, without_routes
from api.explain_words import eligibility_words
from api.presentation import escalation_report_text
from api.routes_support import cs_view, order_id_for
from domain.explain import blockers
from domain.invoices import Invoice
from domain.orders import Order
from domain.parties import Patient
from domain.status import REFILL_ELIGIBLE_STATUSES
from replay.escalation_queue import escalation_report
from replay.timeline import Entry, timeline_and_states
from service import catalog, orders
from service.audit import record_history_read

PAGE_PURPOSE = "console order page"


@dataclass(frozen=True)
class Check:
    """One line of the checklist: ✓ (True) / ✗ (False) / — (None), with its value in words."""

    label: str
    ok: bool | None
    value: str
    href: str | None = None


@dataclass(frozen=True)
class OrderView:
    order: Order
    invoice: Invoice | None
    patient: Patient | None
    cs: dict[str, Any]
    checks: list[Check]
    attempts: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    rx_written_at: str | None
    rejection: str | None
    blockers: list[dict[str, Any]]  # typed blockers (`domain.explain`), with cause and product id
    report: str | None  # the seed's "Include these details" block, when an escalation is open


def resolve(call: Page, ref: str) -> str:
    return order_id_for(call, ref)


def load_order_view(call: Page, order_id: str, *, audit: bool = True) -> OrderView:
    deps, ctx = call.runtime.deps, call.ctx()
    cs = cs_view(call, order_id)
    # One read of the order's, invoice's and refills' streams gives the timeline and their states.
    entries, states = timeline_and_states(deps.store, ctx.organization_id, order_id)
    order = states.get(order_id)
    if not isinstance(order, Order):
        order = orders.get_order(deps, ctx, order_id)
    invoice = states.get(order.placed.invoice_id)
    if not isinstance(invoice, Invoice):
        invoice = orders.get_invoice(deps, ctx, order.placed.invoice_id)
    patient = catalog.get_patient(deps, ctx, order.patient_id)
    if audit:
        record_history_read(deps, ctx, order_id, PAGE_PURPOSE)
    return OrderView(
        order=order,
        invoice=invoice,
        patient=patient,
        cs=cs,
        checks=checklist(cs, order, invoice),
        attempts=attempts_of(invoice, patient),
        refunds=[e.data for e in entries if e.type == "OrderRefunded"],
        timeline=[timeline_row(e) for e in entries],
        rx_written_at=next((e.occurred_at for e in reversed(entries) if e.type == "RxWritten"), None),
        rejection=order.pharmacy_rejected_reason,
        blockers=[asdict(b) for b in blockers(order, invoice)],
        report=_report(call, order_id) if cs["escalations"] else None,
    )


def _report(call: Page, order_id: str) -> str | None:
    report = escalation_report(call.runtime.deps.store, call.principal.organization_id, order_id)
    return escalation_report_text(report) if report is not None else None


def checklist(cs: dict[str, Any], order: Order, invoice: Invoice | None) -> list[Check]:
    """The seed's "What CS Should Check", in its order."""
    original = cs["original_order"]
    refill = cs["refill"]
    product = refill["product"] or {}
    payment = cs["payment"]
    review = cs["medical_review"]
    intake = cs["intake"]
    current, charged = product.get("current_price_cents"), product.get("price_on_this_order_cents")
    rows = [
        Check(
            "Original order",
            None if original is None else True,
            "— (this is not a refill)" if original is None else original["number"] or "link missing",
            None if original is None else f"/console/orders/{original['id']}",
        ),
        Check(
            "Original order paid",
            None if original is None else bool(original["paid"]),
            "—" if original is None else ("yes" if original["paid"] else "no"),
        ),
        Check(
            "Original order status refill-eligible",
            None if original is None else original["status"] in REFILL_ELIGIBLE_STATUSES,
            "—" if original is None else str(original["status"]),
        ),
        Check("Refill product", None if not product else True, product.get("name") or "—"),
        Check(
            "Product active now",
            None if not product else bool(product.get("active")),
            "—" if not product else ("active" if product.get("active") else "inactive"),
        ),
        Check(
            "Current price vs charged",
            None if current is None or charged is None else current == charged,
            f"{_money(current)} now · {_money(charged)} on this order",
        ),
        Check("Refill order", None if original is None else True, cs["order_number"] if original else "—"),
        Check(
            "Invoice status",
            None if invoice is None else invoice.status == "PAID",
            "—" if invoice is None else invoice.status,
        ),
        Check(
            "Payment status",
            {"succeeded": True, "failed": False}.get(payment["status"]),
            payment["status"] + (f" — {payment['gateway_error']}" if payment["gateway_error"] else ""),
        ),
        Check("Order status", None, cs["status"]),
        Check(
            "Intake",
            None if not intake["required"] else bool(intake["done"]),
            "not required" if not intake["required"] else intake["status"].replace("_", " "),
        ),
        Check(
            "Beluga submit",
            None if not review["required"] else review["status"] not in ("blocked", "failed", "canceled"),
            _review_words(review),
        ),
        Check(
            "Patient sees a refill button on this order",
            refill["eligible"],
            "yes"
            if refill["eligible"]
            else "no — " + " ".join(eligibility_words(r) for r in refill["reasons"]),
        ),
    ]
    return rows


def _review_words(review: dict[str, Any]) -> str:
    if not review["required"]:
        return "not required"
    words = str(review["status"]).replace("_", " ")
    if review["blocked_reasons"]:
        words += ": " + ", ".join(review["blocked_reasons"])
    if review["error"]:
        words += f": {review['error']}"
    return words


def _money(cents: int | None) -> str:
    return "—" if cents is None else f"${cents / 100:,.2f}"


def attempts_of(invoice: Invoice | None, patient: Patient | None) -> list[dict[str, Any]]:
    out = []
    for a in invoice.attempts if invoice else ():
        method = patient.method(a.payment_method_id) if patient else None
        card = "—"
        if method is not None:
            card = " ".join(x for x in (method.brand, method.last4 and f"•••• {method.last4}") if x) or (
                method.label or method.id
            )
        out.append(
            {
                "number": a.number,
                "at": a.attempted_at,
                "gateway": a.gateway,
                "card": card,
                "outcome": a.outcome,
                "message": a.message or a.decline_code,
            }
        )
    return out


def timeline_row(e: Entry) -> dict[str, Any]:
    return {
        "id": e.event_id,
        "position": e.position,
        "at": e.occurred_at,
        "type": e.type,
        "version": e.version,
        "aggregate": e.aggregate_type,
        "actor": actor_words(e.actor),
        "words": event_words(e.type, e.data),
        "change": e.change,
        "correlation_id": e.correlation_id,
        "causation_id": e.causation_id,
        "raw": e.as_dict(),
    }


def waiting_for(cs: dict[str, Any]) -> list[dict[str, Any]]:
    """What the order waits for, the fix worded for a page whose buttons do the fix."""
    return [{**b, "fix": without_routes(b["fix"])} for b in cs["waiting_for"]]
