"""Resubmission to a pharmacy: when it is allowed, and the attempt key the pharmacy dedupes on.

A pharmacy dedupes on the reference we send, so a retry after a crash or a timeout never compounds
twice. Sending again after the pharmacy said no needs a *new* reference: the first attempt uses the
order id (as every order did before resubmission existed), attempt n > 1 uses `<order id>.<n>`.
Resubmitting is refused while the pharmacy may still hold the order (an unknown outcome, a pending
answer, an acceptance), because a new key there could compound it twice.
"""

from __future__ import annotations

from domain.orders import FulfillmentResubmitted, Order

ATTEMPT_SEPARATOR = "."

ORDER_CLOSED = "ORDER_CLOSED"
NOT_PAID = "NOT_PAID"
NOT_RELEASED = "NOT_RELEASED"
ALREADY_SHIPPED = "ALREADY_SHIPPED"
NOTHING_TO_RESUBMIT = "NOTHING_TO_RESUBMIT"


def pharmacy_reference(order: Order) -> str:
    """The reference (dedupe key) the current attempt is sent under."""
    if order.pharmacy_attempt <= 1:
        return order.id
    return f"{order.id}{ATTEMPT_SEPARATOR}{order.pharmacy_attempt}"


def parse_pharmacy_reference(reference: str) -> tuple[str, int]:
    """(order id, attempt) named by a reference a pharmacy echoes back; attempt 1 for a bare id."""
    order_id, sep, attempt = reference.rpartition(ATTEMPT_SEPARATOR)
    if sep and attempt.isdigit() and order_id:
        return order_id, int(attempt)
    return reference, 1


def pharmacy_problem(order: Order) -> str | None:
    """What the pharmacy said that ended the current attempt, or None while it may still hold it."""
    if order.pharmacy_rejected_reason is not None:
        return f"rejected: {order.pharmacy_rejected_reason}"
    if order.pharmacy_error is not None and order.pharmacy_error_permanent and not order.pharmacy_submitted:
        return order.pharmacy_error
    return None


def resubmit_refusals(order: Order) -> tuple[str, ...]:
    """Why the order may not be resubmitted now (stable codes); empty when it may."""
    if order.canceled_reason is not None or order.refunded:
        return (ORDER_CLOSED,)
    if order.shipped or order.delivered:
        return (ALREADY_SHIPPED,)
    if not order.paid:
        return (NOT_PAID,)
    if not order.fulfillment_released:
        return (NOT_RELEASED,)
    if pharmacy_problem(order) is None:
        return (NOTHING_TO_RESUBMIT,)
    return ()


def resubmission(order: Order, partner: str, reason: str, requested_by: str) -> FulfillmentResubmitted:
    """The fact that opens the next attempt (call only when `resubmit_refusals` is empty)."""
    problem = pharmacy_problem(order)
    assert problem is not None, "resubmission() without a problem to resubmit after"
    return FulfillmentResubmitted(
        attempt=order.pharmacy_attempt + 1,
        partner=partner,
        reason=reason,
        requested_by=requested_by,
        previous_problem=problem,
    )
