"""Domain state → response models. Pure translation, no loading."""

from __future__ import annotations

from api import models as m
from api.endpoint import Call
from api.explain_words import Audience, summary
from api.order_words import order_kind
from domain.catalog import Product
from domain.explain import blockers
from domain.invoices import Attempt, Invoice
from domain.orders import Order, OrderPlaced
from domain.parties import Patient, SavedPaymentMethod
from domain.refills import Refill
from domain.status import order_status
from domain.subscriptions import Subscription


def product_out(p: Product) -> m.ProductOut:
    return m.ProductOut(
        id=p.id,
        sku=p.sku,
        name=p.name,
        price_cents=p.price_cents,
        currency=p.currency,
        active=p.active,
        kind=p.kind,
        requires_intake=p.requires_intake,
        medical_review=m.MedicalReviewIn(**p.medical_review.model_dump()) if p.medical_review else None,
        pharmacy=m.PharmacyIn(**p.pharmacy.model_dump()) if p.pharmacy else None,
        lab=m.LabIn(steps=list(p.lab.steps), method=p.lab.method) if p.lab else None,
    )


def method_out(method: SavedPaymentMethod) -> m.PaymentMethodOut:
    return m.PaymentMethodOut(
        id=method.id, gateway=method.gateway, label=method.label, brand=method.brand, last4=method.last4
    )


def patient_out(p: Patient) -> m.PatientOut:
    return m.PatientOut(
        id=p.id,
        name=p.name,
        email=p.email,
        state=p.state,
        payment_methods=[method_out(x) for x in p.payment_methods],
    )


def payment_out(a: Attempt) -> m.PaymentOut:
    return m.PaymentOut(
        attempt=a.number,
        status=a.outcome,
        gateway=a.gateway,
        payment_method_id=a.payment_method_id,
        decline_code=a.decline_code,
        gateway_error=a.message if a.outcome == "failed" else None,
        reference=a.gateway_reference,
        attempted_at=a.attempted_at,
    )


def invoice_out(i: Invoice) -> m.InvoiceOut:
    return m.InvoiceOut(
        id=i.id,
        status=i.status,
        amount_cents=i.amount_cents,
        currency=i.issued.currency,
        order_ids=list(i.issued.order_ids),
        paid_at=i.paid_at,
        payments=[payment_out(a) for a in i.attempts],
    )


def patient_share_out(i: Invoice, o: Order) -> m.InvoiceOut:
    """One patient's share of an invoice that covers other orders too (a clinic cart's).

    The cart's other orders belong to other patients, its total is the clinic's wholesale sum and
    its card is the clinic's: a patient sees only this order, its own total (shipping share included,
    as its lines carry it) and each payment's status, never the card or gateway details.
    """
    return m.InvoiceOut(
        id=i.id,
        status=i.status,
        amount_cents=order_total(o),
        currency=i.issued.currency,
        order_ids=[o.id],
        paid_at=i.paid_at,
        payments=[
            m.PaymentOut(
                attempt=a.number,
                status=a.outcome,
                gateway=None,
                payment_method_id=None,
                decline_code=None,
                gateway_error=None,
                reference=None,
                attempted_at=a.attempted_at,
            )
            for a in i.attempts
        ],
    )


def order_total(o: Order) -> int:
    return sum(ln.total_cents for ln in o.placed.lines)


def _invoice_for(o: Order, invoice: Invoice, audience: Audience) -> m.InvoiceOut:
    shared = tuple(invoice.issued.order_ids) != (o.id,)
    return patient_share_out(invoice, o) if audience == "patient" and shared else invoice_out(invoice)


def fulfillment_status(o: Order) -> str:
    for flag, name in (
        (o.delivered, "delivered"),
        (o.shipped, "shipped"),
        (o.pharmacy_rejected_reason is not None, "rejected"),
        (o.processing, "processing"),
        (o.accepted, "accepted"),
        (o.pharmacy_submitted, "submitted"),
        (o.fulfillment_released, "released"),
        (bool(o.held_by), "held"),
    ):
        if flag:
            return name
    return "not_released"


def order_out(o: Order, invoice: Invoice, audience: Audience = "staff") -> m.OrderOut:
    p = o.placed
    status = order_status(o)
    return m.OrderOut(
        id=o.id,
        number=p.number,
        status=status,
        status_explanation=summary(status, blockers(o, invoice), audience),
        kind=_kind(p, audience),
        patient_id=p.patient_id,
        lines=[
            m.OrderLineOut(
                product_id=ln.product_id,
                sku=ln.sku,
                name=ln.name,
                kind=ln.kind,
                quantity=ln.quantity,
                unit_price_cents=ln.unit_price_cents,
            )
            for ln in p.lines
        ],
        currency=p.currency,
        total_cents=order_total(o),
        invoice=_invoice_for(o, invoice, audience),
        source=p.source,
        source_context=p.source_context,
        refill_of_order_id=p.refill_of_order_id,
        refill_of_order_number=p.refill_of_order_number,
        refill_product_id=p.refill_product_id,
        refill_original_quantity=p.refill_original_quantity,
        subscription_id=p.subscription_id,
        cycle_number=p.cycle_number,
        placed_at=p.placed_at,
        charged_at=o.charged_at,
        intake=m.IntakeOut(required=o.requires_intake, status=o.intake_status),
        medical_review=m.MedicalReviewOut(
            required=o.is_medication and p.source != "CLINIC_CART",
            status=o.medical_review_status,
            master_id=o.master_id,
            blocked_reasons=list(o.blocked_reasons),
            error=o.medical_review_error,
            prescribed_med_ids=list(o.rx_med_ids),
        ),
        fulfillment=m.FulfillmentOut(
            status=fulfillment_status(o),
            partner=o.fulfillment_partner,
            external_id=o.pharmacy_external_id,
            carrier=o.carrier,
            tracking=o.tracking,
            held_by=list(o.held_by),
            error=o.pharmacy_error,
            rejected_reason=o.pharmacy_rejected_reason,
            attempt=o.pharmacy_attempt,
        ),
    )


def _kind(placed: OrderPlaced, audience: Audience) -> m.OrderKindOut:
    label, explanation = order_kind(placed, audience)
    return m.OrderKindOut(code=placed.source_context, label=label, explanation=explanation)


def audience_of(call: Call) -> Audience:
    """Patients are spoken to; everyone else reads about the patient."""
    return "patient" if call.principal.role == "patient" else "staff"


def refill_out(r: Refill) -> m.RefillOut:
    q = r.requested
    return m.RefillOut(
        id=r.id,
        original_order_id=q.original_order_id,
        original_order_number=q.original_order_number,
        product_id=q.product_id,
        charge=r.charge,
    )


_SUBSCRIPTION_WORDS = (
    "A subscription: the ledger bills each cycle by itself every {days} days and creates a "
    "'subscription renewal' order for it (source context SUBSCRIPTION_CYCLE). These are not refills: "
    "a refill is only ever requested by the patient from the Orders page."
)


def dunning_out(s: Subscription) -> m.DunningOut | None:
    d = s.dunning
    if d is None:
        return None
    last = d.attempts[-1] if d.attempts else None
    if d.past_due:
        why = "a hard decline (the card cannot be charged again)" if last and last.hard else "the last retry"
        words = (
            f"Cycle {d.cycle_number} is past due after {why}; the invoice stays open and can be paid with "
            "another card. No further cycle is billed until it is paid."
        )
    else:
        words = (
            f"Cycle {d.cycle_number} was declined; it is retried on its own on the dunning schedule. "
            "The invoice stays open and can be paid with another card meanwhile."
        )
    return m.DunningOut(
        state="PAST_DUE" if d.past_due else "RETRYING",
        cycle_number=d.cycle_number,
        invoice_id=d.invoice_id,
        next_retry_at=d.next_retry_at,
        attempts=[
            m.DunningAttemptOut(
                retry=a.retry,
                attempt=a.attempt,
                decline_code=a.decline_code,
                gateway_message=a.message,
                hard_decline=a.hard,
                declined_at=a.declined_at,
                next_retry_at=a.next_retry_at,
            )
            for a in d.attempts
        ],
        explanation=words,
    )


def subscription_out(s: Subscription) -> m.SubscriptionOut:
    st = s.started
    return m.SubscriptionOut(
        id=s.id,
        patient_id=st.patient_id,
        product_id=st.product_id,
        payment_method_id=s.payment_method_id,
        interval_days=st.interval_days,
        state=s.state,
        starts_at=st.starts_at,
        next_cycle_number=s.next_cycle,
        next_cycle_at=s.next_cycle_at,
        cycles={str(n): order_id for n, (order_id, _) in sorted(s.cycles.items())},
        not_billed={str(n): reason for n, reason in sorted(s.not_billed.items())},
        skip_requested=sorted(s.skip_requested),
        dunning=dunning_out(s),
        explanation=_SUBSCRIPTION_WORDS.format(days=st.interval_days),
    )
