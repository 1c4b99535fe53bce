"""The Invoice aggregate: one per order (or per clinic cart), amounts in integer cents."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from domain.errors import Conflict
from domain.events import Fact

# An attempt with no recorded outcome after this long is presumed interrupted (a crash between
# the gateway call and its record). It is retried under the *same* idempotency key.
STALE_ATTEMPT_AFTER = timedelta(minutes=2)


class InvoiceFact(Fact):
    AGGREGATE = "invoice"


class InvoiceIssued(InvoiceFact):
    TYPE = "InvoiceIssued"
    order_ids: tuple[str, ...]
    amount_cents: int
    currency: str
    patient_id: str | None = None
    clinic_id: str | None = None


class PaymentAttempted(InvoiceFact):
    TYPE = "PaymentAttempted"
    attempt: int
    gateway: str
    payment_method_id: str
    idempotency_key: str
    amount_cents: int
    attempted_at: datetime


class PaymentSucceeded(InvoiceFact):
    TYPE = "PaymentSucceeded"
    attempt: int
    gateway: str
    gateway_reference: str | None
    paid_at: datetime


class PaymentFailed(InvoiceFact):
    TYPE = "PaymentFailed"
    attempt: int
    gateway: str
    decline_code: str | None
    message: str
    gateway_reference: str | None = None


class InvoiceVoided(InvoiceFact):
    TYPE = "InvoiceVoided"
    reason: str


class InvoiceRefunded(InvoiceFact):
    TYPE = "InvoiceRefunded"
    amount_cents: int
    gateway_reference: str | None
    reason: str


class InvoiceLineRefunded(InvoiceFact):
    """Part of a multi-order invoice (a clinic cart's) given back for one of its orders."""

    TYPE = "InvoiceLineRefunded"
    order_id: str
    amount_cents: int
    gateway_reference: str | None
    reason: str


@dataclass(frozen=True)
class Attempt:
    number: int
    gateway: str
    payment_method_id: str
    idempotency_key: str
    attempted_at: datetime
    outcome: Literal["pending", "succeeded", "failed"] = "pending"
    decline_code: str | None = None
    message: str | None = None
    gateway_reference: str | None = None


@dataclass(frozen=True)
class Invoice:
    id: str
    issued: InvoiceIssued
    status: Literal["OPEN", "PAID", "VOID", "REFUNDED"] = "OPEN"
    attempts: tuple[Attempt, ...] = field(default=())
    paid_at: datetime | None = None
    refunded_cents: int = 0  # by line refunds of a multi-order invoice (the status stays PAID)
    refunded_orders: tuple[str, ...] = ()

    @property
    def amount_cents(self) -> int:
        return self.issued.amount_cents

    @property
    def last_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def succeeded_attempt(self) -> Attempt | None:
        return next((a for a in self.attempts if a.outcome == "succeeded"), None)


def evolve_invoice(state: Invoice | None, fact: Fact, aggregate_id: str) -> Invoice:
    if isinstance(fact, InvoiceIssued):
        return Invoice(id=aggregate_id, issued=fact)
    assert state is not None
    match fact:
        case PaymentAttempted():
            attempt = Attempt(
                fact.attempt, fact.gateway, fact.payment_method_id, fact.idempotency_key, fact.attempted_at
            )
            others = tuple(a for a in state.attempts if a.number != fact.attempt)
            return replace(state, attempts=(*others, attempt))
        case PaymentSucceeded():
            return replace(
                state,
                status="PAID" if state.status == "OPEN" else state.status,
                paid_at=state.paid_at or fact.paid_at,
                attempts=_settle(state, fact.attempt, "succeeded", None, None, fact.gateway_reference),
            )
        case PaymentFailed():
            return replace(
                state,
                attempts=_settle(
                    state, fact.attempt, "failed", fact.decline_code, fact.message, fact.gateway_reference
                ),
            )
        case InvoiceVoided():
            return replace(state, status="VOID")
        case InvoiceRefunded():
            return replace(state, status="REFUNDED")
        case InvoiceLineRefunded():
            if fact.order_id in state.refunded_orders:
                return state
            refunded = state.refunded_cents + fact.amount_cents
            return replace(
                state,
                refunded_cents=refunded,
                refunded_orders=(*state.refunded_orders, fact.order_id),
                status="REFUNDED" if refunded >= state.amount_cents else state.status,
            )
    return state


def _settle(
    state: Invoice,
    number: int,
    outcome: Literal["succeeded", "failed"],
    code: str | None,
    message: str | None,
    ref: str | None,
) -> tuple[Attempt, ...]:
    return tuple(
        replace(a, outcome=outcome, decline_code=code, message=message, gateway_reference=ref)
        if a.number == number
        else a
        for a in state.attempts
    )


def stale_attempt(
    invoice: Invoice, now: datetime, stale_after: timedelta = STALE_ATTEMPT_AFTER
) -> Attempt | None:
    """The last attempt, when it is still pending after `stale_after`: presumed interrupted."""
    last = invoice.last_attempt
    if last is None or last.outcome != "pending" or now - last.attempted_at < stale_after:
        return None
    return last


def redrive(invoice: Invoice, attempt: Attempt, now: datetime) -> PaymentAttempted:
    """Take over an interrupted attempt: same number, same key, a new start time. Appended at the
    invoice's read version, it lets exactly one re-driver (a replay or the reconciler) go on."""
    return PaymentAttempted(
        attempt=attempt.number,
        gateway=attempt.gateway,
        payment_method_id=attempt.payment_method_id,
        idempotency_key=attempt.idempotency_key,
        amount_cents=invoice.amount_cents,
        attempted_at=now,
    )


def start_payment(
    invoice: Invoice,
    *,
    gateway: str,
    payment_method_id: str,
    now: datetime,
    stale_after: timedelta = STALE_ATTEMPT_AFTER,
) -> PaymentAttempted:
    """Decide a new charge attempt. Only one attempt may be in flight; a paid invoice is final."""
    if invoice.status == "PAID":
        raise Conflict(reasons=("INVOICE_ALREADY_PAID",))
    if invoice.status != "OPEN":
        raise Conflict(reasons=("INVOICE_NOT_OPEN",), facts={"status": invoice.status})
    last = invoice.last_attempt
    if last is not None and last.outcome == "pending":
        if now - last.attempted_at < stale_after:
            raise Conflict(reasons=("PAYMENT_IN_PROGRESS",))
        # Re-drive the interrupted attempt under its own key: the gateway is asked about it first.
        return redrive(invoice, last, now)
    number = len(invoice.attempts) + 1
    return PaymentAttempted(
        attempt=number,
        gateway=gateway,
        payment_method_id=payment_method_id,
        idempotency_key=f"invoice-{invoice.id}-attempt-{number}",
        amount_cents=invoice.amount_cents,
        attempted_at=now,
    )
