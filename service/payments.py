"""Charging an invoice: record the attempt, call the gateway, record the outcome.

The attempt is committed *before* the gateway call, under an expected version, so two
concurrent payers cannot both start a charge; the gateway call carries an idempotency key
derived from the invoice id and attempt number. An attempt whose outcome was never recorded (a
crash, an unreachable gateway) stays pending; after `Deps.pending_after` a replay of the request
or the reconciler (`service.reconcile`) takes it over, asks the gateway what happened under that
key (`find_charge`), and charges only when the gateway never saw it: never twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from adapters.crashpoint import AFTER_CHARGE, AFTER_CHARGE_REQUEST, crash_point
from adapters.eventstore import ConcurrentWrite
from adapters.payments.port import ChargeOutcome, ChargeRequest, GatewayUnavailable, PaymentGateway
from domain.clinic.directory import Clinic
from domain.errors import Conflict, NotFound
from domain.events import Fact
from domain.invoices import (
    Attempt,
    Invoice,
    PaymentAttempted,
    PaymentFailed,
    PaymentSucceeded,
    redrive,
    stale_attempt,
    start_payment,
)
from domain.orders import Order, OrderCharged
from domain.parties import Patient, SavedPaymentMethod
from domain.refills import Refill, RefillChargeFailed, RefillChargeSucceeded
from service.deps import Deps, retry_on_conflict
from service.dunning import record_cycle_outcome
from service.idempotency import KeyedRequest, claim, claimed_resource
from service.unit import Batch, Context, Loaded, Unit, load, load_owned

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PaymentResult:
    invoice: Invoice
    attempt: Attempt


def new_attempt(deps: Deps, invoice: Invoice, method: SavedPaymentMethod) -> PaymentAttempted:
    """The next attempt on an invoice, to be committed in the caller's batch before any charge."""
    return start_payment(
        invoice,
        gateway=method.gateway,
        payment_method_id=method.id,
        now=deps.clock(),
        stale_after=deps.pending_after,
    )


def charge_invoice(
    deps: Deps,
    ctx: Context,
    invoice_id: str,
    method: SavedPaymentMethod,
    *,
    keyed: KeyedRequest | None = None,
) -> PaymentResult:
    """Record an attempt (and claim the request's key with it, in one commit), then charge it.
    A key claimed earlier replays its own attempt, finishing it first if it was interrupted."""

    def begin() -> tuple[int, bool, bool]:  # attempt number, re-driven, replay of the key
        previous = claimed_resource(deps, keyed)
        if previous is not None:
            return claimed_attempt(previous), False, True
        loaded = load_owned(deps.store, ctx, Invoice, invoice_id)
        attempted = new_attempt(deps, loaded.state, method)
        batch = deps.batch(ctx)
        batch.extend(loaded, attempted)
        claim(batch, keyed, "payment_attempt", f"{invoice_id}#{attempted.attempt}")
        deps.commit(batch)
        return attempted.attempt, attempted.attempt <= len(loaded.state.attempts), False

    number, redriven, replayed = retry_on_conflict(begin)
    if replayed:
        return replay_attempt(deps, ctx, invoice_id, number)
    return drive_attempt(deps, ctx, invoice_id, number, ask_first=redriven)


def claimed_attempt(resource: str) -> int:
    """`<invoice id>#<attempt>`, as a payment key's claim names the attempt it started."""
    return int(resource.rsplit("#", 1)[1])


def replay_attempt(deps: Deps, ctx: Context, invoice_id: str, number: int) -> PaymentResult:
    """What a replayed key gets: its own attempt, re-driven first when it was left pending."""
    redrive_stale(deps, ctx, invoice_id)
    invoice: Invoice = load_owned(deps.store, ctx, Invoice, invoice_id).state
    attempt = next((a for a in invoice.attempts if a.number == number), None)
    if attempt is None:  # a claim written before claims shared the attempt's commit
        raise Conflict(
            "This Idempotency-Key names a payment that was never started; use a new key.",
            reasons=("IDEMPOTENCY_KEY_REUSED",),
        )
    return PaymentResult(invoice, attempt)


def redrive_stale(deps: Deps, ctx: Context, invoice_id: str) -> PaymentResult | None:
    """Finish an attempt interrupted before its outcome was recorded (a replay of its key, or the
    reconciler). Taking it over is one append at the invoice's read version, so of two re-drivers
    only one goes on; it asks the gateway under the attempt's own key before charging."""
    loaded = load(deps.store, Invoice, invoice_id)
    stale = stale_attempt(loaded.state, deps.clock(), deps.pending_after)
    if stale is None:
        return None
    batch = deps.batch(ctx)
    batch.extend(loaded, redrive(loaded.state, stale, batch.now))
    try:
        deps.commit(batch)
    except ConcurrentWrite:
        return None  # another re-driver (or the outcome) got there first
    log.warning("payment.redriven", invoice_id=invoice_id, attempt=stale.number)
    return drive_attempt(deps, ctx, invoice_id, stale.number, ask_first=True)


def drive_attempt(
    deps: Deps, ctx: Context, invoice_id: str, number: int, *, ask_first: bool, uow: Unit | None = None
) -> PaymentResult:
    """Charge a recorded attempt under its key and record the outcome. When the outcome stays
    unknown (the gateway is unreachable) the attempt stays pending: recording a failure that may
    be false would invite a second charge; the reconciler asks again later.

    A unit of work handed in already holds the invoice, its payer, orders and refill (the refill
    request just wrote them): the charge reads none of them again."""
    uow = uow or deps.unit(ctx)
    loaded = uow.get(Invoice, invoice_id)
    invoice: Invoice = loaded.state
    attempt = next(a for a in invoice.attempts if a.number == number)
    if attempt.outcome != "pending":
        return PaymentResult(invoice, attempt)
    method = method_of(deps, invoice, attempt.payment_method_id, uow)
    gateway = deps.gateway(attempt.gateway)
    crash_point(AFTER_CHARGE_REQUEST)
    try:
        outcome = _ask_or_charge(gateway, invoice, attempt, method, loaded.organization_id or "", ask_first)
    except GatewayUnavailable as exc:
        log.warning("payment.outcome_unknown", invoice_id=invoice.id, attempt=number, error=str(exc))
        return PaymentResult(invoice, attempt)
    crash_point(AFTER_CHARGE)
    log.info(
        "payment.outcome",
        invoice_id=invoice.id,
        attempt=number,
        succeeded=outcome.succeeded,
        decline_code=outcome.decline_code,
        found=ask_first,
    )
    settled = record_outcome(deps, ctx, invoice_id, number, attempt.gateway, outcome, uow=uow)
    return PaymentResult(settled, next(a for a in settled.attempts if a.number == number))


def _ask_or_charge(
    gateway: PaymentGateway,
    invoice: Invoice,
    attempt: Attempt,
    method: SavedPaymentMethod | None,
    organization_id: str,
    ask_first: bool,
) -> ChargeOutcome:
    if method is None:
        return ChargeOutcome(False, None, "resource_missing", "The saved payment method no longer exists.")
    if ask_first:
        found = gateway.find_charge(idempotency_key=attempt.idempotency_key, customer_ref=method.customer_ref)
        if found is not None:
            return found
    return gateway.charge(_request(invoice, attempt, method, organization_id))


def _request(
    invoice: Invoice, attempt: Attempt, method: SavedPaymentMethod, organization_id: str
) -> ChargeRequest:
    """The same request every time for one attempt: a re-drive must match the first call exactly."""
    return ChargeRequest(
        idempotency_key=attempt.idempotency_key,
        amount_cents=invoice.amount_cents,
        currency=invoice.issued.currency,
        customer_ref=method.customer_ref,
        payment_method_ref=method.payment_method_ref,
        description=f"Invoice {invoice.id}",
        metadata={
            "invoice_id": invoice.id,
            "attempt": str(attempt.number),
            "organization_id": organization_id,
        },
    )


def method_of(
    deps: Deps, invoice: Invoice, payment_method_id: str, uow: Unit | None = None
) -> SavedPaymentMethod | None:
    """The saved card an attempt named, from the invoice's patient or clinic."""
    uow = uow or deps.unit()
    owner: Loaded[Patient] | Loaded[Clinic] | None
    if invoice.issued.patient_id is not None:
        owner = uow.find(Patient, invoice.issued.patient_id)
    elif invoice.issued.clinic_id is not None:
        owner = uow.find(Clinic, invoice.issued.clinic_id)
    else:
        owner = None
    method: SavedPaymentMethod | None = owner.state.method(payment_method_id) if owner else None
    return method


def refill_of(deps: Deps, invoice: Invoice, uow: Unit | None = None) -> str | None:
    """The refill a refill order's invoice belongs to (its charge is recorded on the refill too)."""
    if len(invoice.issued.order_ids) != 1:
        return None
    uow = uow or deps.unit()
    order = uow.find(Order, invoice.issued.order_ids[0])
    original_id = order.state.placed.refill_of_order_id if order else None
    original = uow.find(Order, original_id) if original_id else None
    if order is None or original is None:
        return None
    return next((r.refill_id for r in original.state.refills if r.refill_order_id == str(order.id)), None)


def record_outcome(
    deps: Deps,
    ctx: Context,
    invoice_id: str,
    number: int,
    gateway: str,
    outcome: ChargeOutcome,
    *,
    refill_id: str | None = None,
    uow: Unit | None = None,
) -> Invoice:
    """Settle one attempt; settling it again (a webhook after the synchronous reply) changes nothing.
    The unit of work (a fresh one unless handed in) holds the states read and written."""
    unit = uow or deps.unit(ctx)

    def attempt() -> Invoice:
        loaded = unit.get(Invoice, invoice_id)
        invoice: Invoice = loaded.state
        current = next((a for a in invoice.attempts if a.number == number), None)
        if current is None or current.outcome != "pending":
            return invoice
        batch = deps.batch(ctx)
        now = deps.clock()
        if outcome.succeeded:
            batch.extend(
                loaded,
                PaymentSucceeded(
                    attempt=number, gateway=gateway, gateway_reference=outcome.reference, paid_at=now
                ),
            )
            if invoice.status == "OPEN":
                for order_id in invoice.issued.order_ids:
                    order = unit.get(Order, order_id)
                    if order.state.charged_at is None:
                        batch.extend(order, OrderCharged(invoice_id=invoice.id, charged_at=now))
        else:
            batch.extend(
                loaded,
                PaymentFailed(
                    attempt=number,
                    gateway=gateway,
                    decline_code=outcome.decline_code,
                    message=outcome.message or "The payment was declined.",
                    gateway_reference=outcome.reference,
                ),
            )
        refill = refill_id or refill_of(deps, invoice, unit)
        if refill is not None:
            _record_refill_charge(batch, unit.get(Refill, refill), number, outcome)
        record_cycle_outcome(deps, batch, invoice, number, outcome, unit)  # a subscription cycle's dunning
        deps.commit(batch, unit)
        return batch.state(Invoice, invoice_id)

    return retry_on_conflict(attempt)


def _record_refill_charge(batch: Batch, refill: Loaded[Refill], number: int, outcome: ChargeOutcome) -> None:
    fact: Fact = (
        RefillChargeSucceeded(attempt=number)
        if outcome.succeeded
        else RefillChargeFailed(
            attempt=number,
            decline_code=outcome.decline_code,
            message=outcome.message or "The payment was declined.",
        )
    )
    batch.extend(refill, fact)


def usable_method(patient: Patient, payment_method_id: str) -> SavedPaymentMethod:
    method = patient.method(payment_method_id)
    if method is None:
        raise NotFound("No such payment method.")
    return method
