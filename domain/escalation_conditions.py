"""The escalation conditions: one pure function per kind (see `domain/escalations.py` for how to add one).

The seed's "CS Escalation Checklist" (the first six), then what DOMAIN.md adds beyond it. Each returns
`Details` with stable reason codes when its condition holds on the order now, else None; the policy
raises an `EscalationRaised` when one starts to hold and an `EscalationResolved` when it stops.
"""

from __future__ import annotations

from domain.clinic.rejections import rejected_paid_line
from domain.clinic.routing import is_clinic_order
from domain.dunning import past_due_condition
from domain.escalations import Details, OrderFacts, condition
from domain.gate import expected_med_id, rx_mismatch
from domain.orders import Order
from domain.pharmacy_cancellation import pharmacy_cancellation
from domain.support import duplicate_refill_orders, medical_review_required


def _closed(order: Order) -> bool:
    return order.canceled_reason is not None or order.refunded


@condition("CHARGED_BUT_NOT_UPDATED")
def charged_but_not_updated(f: OrderFacts) -> Details | None:
    """The gateway took the money but the order was never marked charged."""
    if f.order.paid:
        return None
    reasons = []
    if f.invoice is not None and f.invoice.succeeded_attempt is not None:
        reasons.append("INVOICE_PAID")
    if f.refill is not None and f.refill.charge == "succeeded":
        reasons.append("REFILL_CHARGED")
    return Details(reasons=tuple(reasons)) if reasons else None


@condition("DUPLICATE_REFILL_AFTER_FAILED_PAYMENT")
def duplicate_refill(f: OrderFacts) -> Details | None:
    """Another refill was created while an earlier refill's invoice was open after a failed payment."""
    flagged: set[str] = set()
    for holder in (f.original, f.order):
        if holder is not None and holder.refills:
            flagged |= duplicate_refill_orders(holder.refills, f.refill_invoices)
    mine = {f.order.id, *(r.refill_order_id for r in f.order.refills)}
    if not flagged & mine:
        return None
    return Details(reasons=("OPEN_REFILL_INVOICE",), related_order_ids=tuple(sorted(flagged - {f.order.id})))


@condition("REFILL_MISSING_ORIGINAL_LINK")
def refill_missing_link(f: OrderFacts) -> Details | None:
    placed = f.order.placed
    if placed.source_context != "PATIENT_REFILL":
        return None
    reasons = []
    if not (placed.refill_of_order_id and placed.refill_of_order_number and placed.refill_product_id):
        reasons.append("LINK_FIELDS_MISSING")
    if f.original is None or not any(r.refill_order_id == f.order.id for r in f.original.refills):
        reasons.append("ORIGINAL_DOES_NOT_RECORD_IT")
    return Details(reasons=tuple(reasons)) if reasons else None


@condition("MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT")
def medical_submit_failed(f: OrderFacts) -> Details | None:
    o = f.order
    if not o.paid or _closed(o) or o.medical_review_status not in ("failed", "blocked"):
        return None
    if o.medical_review_status == "blocked":
        return Details(reasons=o.blocked_reasons or ("BLOCKED",))
    return Details(reasons=("SUBMISSION_FAILED",), message=o.medical_review_error)


@condition("FULFILLMENT_BEFORE_RX")
def fulfillment_before_rx(f: OrderFacts) -> Details | None:
    o = f.order
    moving = o.fulfillment_released or o.pharmacy_submitted or o.accepted
    if not moving or not medical_review_required(o):
        return None
    reasons = [] if o.rx_med_ids else ["NO_PRESCRIPTION"]
    if o.requires_intake and o.intake_status != "accepted":
        reasons.append("INTAKE_NOT_ACCEPTED")
    return Details(reasons=tuple(reasons)) if reasons else None


@condition("PRICE_OR_ELIGIBILITY_SUSPECT")
def price_or_eligibility_suspect(f: OrderFacts) -> Details | None:
    placed = f.order.placed
    if placed.source_context != "PATIENT_REFILL":
        return None
    reasons: list[str] = []
    if len(placed.lines) != 1 or placed.lines[0].quantity != 1:
        reasons.append("REFILL_NOT_ONE_UNIT")
    elif placed.refill_product_id and placed.lines[0].product_id != placed.refill_product_id:
        reasons.append("LINE_NOT_REFILL_PRODUCT")
    total = sum(ln.total_cents for ln in placed.lines)
    if f.invoice is not None and f.invoice.amount_cents != total:
        reasons.append("INVOICE_AMOUNT_MISMATCH")
    original = f.original
    if (
        original is not None
        and placed.refill_product_id
        and original.line_for(placed.refill_product_id) is None
    ):
        reasons.append("PRODUCT_NOT_ON_ORIGINAL")
    if original is not None and (original.charged_at is None or original.charged_at > placed.placed_at):
        reasons.append("ORIGINAL_NOT_PAID_AT_REFILL")
    expected = actual = None
    if f.product_then is not None and placed.lines:
        actual = placed.lines[0].unit_price_cents
        if actual != f.product_then.price_cents:
            reasons.append("PRICE_NOT_CATALOG_PRICE")
            expected = f.product_then.price_cents
        if not f.product_then.active:
            reasons.append("PRODUCT_INACTIVE_AT_REFILL")
    if not reasons:
        return None
    return Details(
        reasons=tuple(reasons), expected_cents=expected, actual_cents=actual if expected is not None else None
    )


@condition("CONSULT_CANCELED_AFTER_PAYMENT")
def consult_canceled(f: OrderFacts) -> Details | None:
    o = f.order
    if not o.paid or _closed(o) or o.medical_review_status != "canceled":
        return None
    return Details(reasons=("CONSULT_CANCELED",), message=o.consult_canceled_reason)


@condition("RX_FOR_ANOTHER_MED_ID")
def rx_for_another_med_id(f: OrderFacts) -> Details | None:
    o = f.order
    if _closed(o) or not rx_mismatch(o, f.products):
        return None
    expected = tuple(
        mid
        for ln in o.placed.lines
        if ln.kind == "medication" and (mid := expected_med_id(o, ln, f.products.get(ln.product_id)))
    )
    return Details(reasons=("RX_MED_ID_MISMATCH",), med_ids=o.rx_med_ids, expected_med_ids=expected)


@condition("PHARMACY_REJECTED_PAID_ORDER")
def pharmacy_rejected_paid(f: OrderFacts) -> Details | None:
    o = f.order
    if o.pharmacy_rejected_reason is None or not o.paid or _closed(o) or is_clinic_order(o):
        return None  # a clinic's line is REJECTED_PAID_CLINIC_LINE
    return Details(reasons=("PHARMACY_REJECTED",), message=o.pharmacy_rejected_reason)


@condition("CHARGE_PENDING")
def charge_pending(f: OrderFacts) -> Details | None:
    """A charge whose outcome was never recorded, for longer than the reconciler should take."""
    last = f.invoice.last_attempt if f.invoice is not None else None
    if last is None or last.outcome != "pending" or f.now - last.attempted_at < f.pending_charge_after:
        return None
    return Details(reasons=("OUTCOME_NOT_RECORDED",), since=last.attempted_at)


@condition("PHARMACY_CANCEL_FAILED")
def pharmacy_cancel_failed(f: OrderFacts) -> Details | None:
    """Closed after it reached the pharmacy, and the pharmacy refused (or could not be asked) to stop it."""
    found = pharmacy_cancellation(f.order)
    if found is None or found.state != "failed":
        return None
    return Details(reasons=(found.closed_as,), message=found.error)


@condition("SUBSCRIPTION_PAST_DUE")
def subscription_past_due(f: OrderFacts) -> Details | None:
    """Dunning ran out on this cycle's invoice: every retry declined (`domain.dunning`)."""
    found = past_due_condition(f.subscription) if f.subscription is not None else None
    if found is None or found.invoice_id != f.order.placed.invoice_id:
        return None
    return Details(
        reasons=("PAST_DUE", found.last_decline_code or "DECLINED"),
        message=found.last_message,
        attempts=found.attempts,
    )


@condition("REJECTED_PAID_CLINIC_LINE")
def rejected_paid_clinic_line(f: OrderFacts) -> Details | None:
    """A clinic paid for the line in its cart and the pharmacy rejected it (`domain.clinic.rejections`)."""
    found = rejected_paid_line(f.order)
    if found is None or not found.escalate:
        return None
    return Details(reasons=("PHARMACY_REJECTED",), message=found.reason, actual_cents=found.amount_cents)
