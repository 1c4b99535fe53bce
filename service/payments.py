"""Charging an invoice: record the attempt, call the gateway, record the outcome.

The attempt is committed *before* the gateway call, under an expected version, so two
concurrent payers cannot both start a charge; the gateway call carries an idempotency key
derived from the invoice id and attempt number, so re-driving an interrupted attempt cannot
charge twice at a gateway that honours keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from adapters.payments.port import ChargeOutcome, ChargeRequest, GatewayUnavailable
from domain.errors import NotFound
from domain.events import Fact
from domain.invoices import Attempt, Invoice, PaymentFailed, PaymentSucceeded, start_payment
from domain.orders import OrderCharged
from domain.parties import Patient, SavedPaymentMethod
from domain.refills import RefillChargeFailed, RefillChargeSucceeded
from service.deps import Deps, retry_on_conflict
from service.unit import Batch, Context, Loaded, load, load_owned

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PaymentResult:
    invoice: Invoice
    attempt: Attempt


def charge_invoice(
    deps: Deps, ctx: Context, invoice_id: str, method: SavedPaymentMethod, *, refill_id: str | None = None
) -> PaymentResult:
    def begin() -> tuple[Loaded, int]:
        loaded = load_owned(deps.store, ctx, "invoice", invoice_id)
        attempted = start_payment(
            loaded.state, gateway=method.gateway, payment_method_id=method.id, now=deps.clock()
        )
        batch = deps.batch(ctx)
        batch.extend(loaded, attempted)
        deps.commit(batch)
        return loaded, attempted.attempt

    loaded, number = retry_on_conflict(begin)
    invoice: Invoice = loaded.state
    attempt_key = f"invoice-{invoice.id}-attempt-{number}"
    request = ChargeRequest(
        idempotency_key=attempt_key,
        amount_cents=invoice.amount_cents,
        currency=invoice.issued.currency,
        customer_ref=method.customer_ref,
        payment_method_ref=method.payment_method_ref,
        description=f"Invoice {invoice.id}",
        metadata={"invoice_id": invoice.id, "attempt": str(number), "organization_id": ctx.organization_id},
    )
    try:
        outcome = deps.gateway(method.gateway).charge(request)
    except GatewayUnavailable as exc:
        # Outcome unknown: record it as failed so the patient may retry; a gateway webhook for
        # the same PaymentIntent later settles the truth (see the webhook handler).
        outcome = ChargeOutcome(
            succeeded=False,
            reference=None,
            decline_code="gateway_unavailable",
            message=f"The payment gateway could not be reached: {exc}",
        )
    log.info(
        "payment.outcome",
        invoice_id=invoice.id,
        attempt=number,
        succeeded=outcome.succeeded,
        decline_code=outcome.decline_code,
    )
    settled = record_outcome(deps, ctx, invoice_id, number, method.gateway, outcome, refill_id=refill_id)
    return PaymentResult(settled, next(a for a in settled.attempts if a.number == number))


def record_outcome(
    deps: Deps,
    ctx: Context,
    invoice_id: str,
    number: int,
    gateway: str,
    outcome: ChargeOutcome,
    *,
    refill_id: str | None = None,
) -> Invoice:
    """Settle one attempt; settling it again (a webhook after the synchronous reply) changes nothing."""

    def attempt() -> Invoice:
        loaded = load(deps.store, "invoice", invoice_id)
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
                    order = load(deps.store, "order", order_id)
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
        if refill_id is not None:
            _record_refill_charge(deps, batch, refill_id, number, outcome)
        deps.commit(batch)
        return load(deps.store, "invoice", invoice_id).state  # type: ignore[no-any-return]

    return retry_on_conflict(attempt)


def _record_refill_charge(
    deps: Deps, batch: Batch, refill_id: str, number: int, outcome: ChargeOutcome
) -> None:
    refill = load(deps.store, "refill", refill_id)
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
