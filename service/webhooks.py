"""Inbound webhooks: store the verified raw delivery, then apply it to the ledger exactly once.

Storing is keyed by (vendor, vendor event id), so a repeat delivery stores nothing new. Applying is
idempotent on its own (order facts remember the vendor event ids they came from; a payment attempt
is settled once), so it runs on every delivery *and* again from the stored event by the policy
worker: a crash between storing and applying loses nothing, and nothing happens twice.
Out-of-order delivery is harmless: forward news only adds, and news older than what the vendor
already told us that would move the order back is recorded as stale (`domain.vendor_news`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from adapters.beluga import (
    CONSULT_CANCELED,
    CONSULT_CONCLUDED,
    RX_WRITTEN,
    BelugaWebhook,
    parse_beluga_webhook,
)
from adapters.eventstore import ConcurrentWrite, stable_id
from adapters.payments.port import ChargeOutcome
from adapters.payments.stripe_webhooks import StripeEvent, read_verified_event
from adapters.pharmacy import PharmacyWebhook, parse_pharmacy_webhook
from domain.events import Actor, Fact
from domain.invoices import Invoice, PaymentSucceeded
from domain.medical_review import order_id_of_master
from domain.orders import (
    ConsultCanceled,
    ConsultConcluded,
    Order,
    OrderCharged,
    OrderDelivered,
    OrderShipped,
    PharmacyOrderAccepted,
    PharmacyOrderProcessing,
    PharmacyOrderRejected,
    RxWritten,
    VendorFactStale,
)
from domain.resubmission import parse_pharmacy_reference
from domain.vendor_news import vendor_fact_to_record
from domain.webhooks import WebhookReceived
from service.clinic.stock import release_if_unfilled
from service.deps import Deps, retry_on_conflict
from service.payments import record_outcome
from service.unit import Context, load, try_load

log = structlog.get_logger(__name__)

STRIPE, BELUGA = "stripe", "beluga"
UNPARSEABLE = "unparseable"  # signed, but not the shape we agreed: kept for audit, never applied
PAYMENT_EVENTS = {"payment_intent.succeeded": True, "payment_intent.payment_failed": False}


def pharmacy_vendor(partner: str) -> str:
    return f"pharmacy:{partner}"


@dataclass(frozen=True)
class Receipt:
    duplicate: bool  # the delivery had been stored before
    outcome: str  # applied | stale | already_applied | ignored | unmatched


ALREADY_STALE = "already_stale"  # `_apply_to_order` only: the event is on the order, as stale


def _receipt(stored_now: bool, outcome: str) -> Receipt:
    """A first Beluga or pharmacy delivery whose vendor event the re-apply policy recorded a moment
    earlier (the commit storing it wakes the worker) is answered with what was recorded for it —
    applied, or stale — rather than "already applied", which means a repeat; a repeat is "already
    applied" whichever it was. (Stripe's "already applied" also means "no effect", so its receipts
    are left as they are.)"""
    if outcome in ("already_applied", ALREADY_STALE):
        first = "stale" if outcome == ALREADY_STALE else "applied"
        outcome = first if stored_now else "already_applied"
    return Receipt(not stored_now, outcome)


def _ctx(vendor: str, organization_id: str, event_id: str) -> Context:
    return Context(
        Actor(kind="webhook", id=vendor.split(":", 1)[0]),
        organization_id,
        f"{vendor}:{event_id}",
        f"{vendor}:{event_id}",
    )


def store_raw(
    deps: Deps,
    organization_id: str,
    vendor: str,
    event_id: str,
    event_type: str,
    body: bytes,
    signature: str | None,
) -> bool:
    """Keep the delivery as received; False when this (vendor, event id) was stored already."""
    batch = deps.batch(_ctx(vendor, organization_id, event_id))
    batch.start(
        stable_id("webhook", vendor, event_id),
        WebhookReceived(
            vendor=vendor,
            vendor_event_id=event_id,
            event_type=event_type,
            body=body.decode("utf-8", errors="replace"),
            signature=signature,
            received_at=deps.clock(),
        ),
    )
    try:
        deps.commit(batch)
    except ConcurrentWrite:
        return False
    return True


def _org_of(deps: Deps, kind: type[Order | Invoice], aggregate_id: str | None, default: str) -> str:
    loaded = try_load(deps.store, kind, aggregate_id) if aggregate_id else None
    return loaded.organization_id or default if loaded is not None else default


def _apply_to_order(
    deps: Deps,
    vendor: str,
    order_id: str | None,
    event_id: str,
    fact: Fact,
    news: tuple[str, datetime],
    partner: str | None = None,
    pharmacy_attempt: int | None = None,
) -> str:
    """Apply one vendor fact to its order once; a late one that would move it back is recorded as
    stale instead (`news` is the vendor's event type and occurredAt). An event the order has already
    is "already_applied", or `ALREADY_STALE` when it was recorded as stale."""

    def attempt() -> str:
        loaded = try_load(deps.store, Order, order_id) if order_id else None
        if loaded is None:
            return "unmatched"
        order: Order = loaded.state
        vendor_event_id = getattr(fact, "vendor_event_id", None)
        if vendor_event_id in order.seen_vendor_events:
            return ALREADY_STALE if vendor_event_id in order.stale_vendor_events else "already_applied"
        if partner is not None and not order.fulfillment_released:
            # We never released it to any pharmacy: a pharmacy event for it cannot be true.
            log.warning("webhook.pharmacy_event_before_release", order_id=order.id, partner=partner)
            return "ignored"
        if partner is not None and order.fulfillment_partner not in (None, partner):
            log.warning("webhook.partner_mismatch", order_id=order.id, partner=partner)
            return "ignored"
        if pharmacy_attempt is not None and pharmacy_attempt != order.pharmacy_attempt:
            # News about an attempt that a resubmission replaced: kept raw, never applied.
            log.warning("webhook.previous_attempt", order_id=order.id, attempt=pharmacy_attempt)
            return "ignored"
        event_type, occurred_at = news
        recorded = vendor_fact_to_record(
            order, fact, vendor=vendor, event_type=event_type, occurred_at=occurred_at
        )
        batch = deps.batch(_ctx(vendor, loaded.organization_id or "", event_id))
        batch.extend(loaded, recorded)
        release_if_unfilled(deps.store, batch, order, recorded)  # a rejected clinic line's vials go back
        deps.commit(batch)
        if isinstance(recorded, VendorFactStale):
            log.warning("webhook.stale", order_id=order.id, vendor=vendor, event_type=event_type)
            return "stale"
        return "applied"

    return retry_on_conflict(attempt)


def apply_beluga(deps: Deps, wh: BelugaWebhook) -> str:
    key = f"{BELUGA}:{wh.event_id}"
    fact: Fact
    if wh.event == RX_WRITTEN:
        fact = RxWritten(
            master_id=wh.master_id,
            med_ids=tuple(m.med_id for m in wh.meds_prescribed),
            vendor_event_id=key,
            written_at=wh.occurred_at,
        )
    elif wh.event == CONSULT_CONCLUDED:
        fact = ConsultConcluded(
            master_id=wh.master_id, outcome=wh.visit_outcome, vendor_event_id=key, occurred_at=wh.occurred_at
        )
    elif wh.event == CONSULT_CANCELED:
        fact = ConsultCanceled(
            master_id=wh.master_id, vendor_event_id=key, reason=wh.visit_outcome, occurred_at=wh.occurred_at
        )
    else:
        return "ignored"  # stored raw; nothing in the ledger reads it yet
    return _apply_to_order(
        deps, BELUGA, order_id_of_master(wh.master_id), wh.event_id, fact, (wh.event, wh.occurred_at)
    )


def apply_pharmacy(deps: Deps, partner: str, wh: PharmacyWebhook) -> str:
    key, at = f"{pharmacy_vendor(partner)}:{wh.event_id}", wh.occurred_at
    facts: dict[str, Fact] = {
        "accepted": PharmacyOrderAccepted(
            partner=partner, external_id=wh.order_id, vendor_event_id=key, occurred_at=at
        ),
        "rejected": PharmacyOrderRejected(
            partner=partner, reason=wh.reason, vendor_event_id=key, occurred_at=at
        ),
        "processing": PharmacyOrderProcessing(partner=partner, vendor_event_id=key, occurred_at=at),
        "shipped": OrderShipped(
            carrier=wh.carrier, tracking=wh.tracking, vendor_event_id=key, shipped_at=wh.occurred_at
        ),
        "delivered": OrderDelivered(vendor_event_id=key, delivered_at=wh.occurred_at),
    }
    order_id, attempt = parse_pharmacy_reference(wh.reference_id)
    return _apply_to_order(
        deps,
        pharmacy_vendor(partner),
        order_id,
        wh.event_id,
        facts[wh.status],
        (wh.status, at),
        partner,
        attempt,
    )


def apply_stripe(deps: Deps, ev: StripeEvent) -> str:
    if ev.type not in PAYMENT_EVENTS:
        return "ignored"
    invoice_id, number = ev.metadata.get("invoice_id"), ev.metadata.get("attempt", "")
    loaded = try_load(deps.store, Invoice, invoice_id) if invoice_id else None
    if loaded is None or not number.isdigit():
        return "unmatched"
    invoice: Invoice = loaded.state
    current = next((a for a in invoice.attempts if a.number == int(number)), None)
    if current is None:
        return "unmatched"
    succeeded = PAYMENT_EVENTS[ev.type]
    ctx = _ctx(STRIPE, loaded.organization_id or "", ev.id)
    if current.outcome == "pending":
        record_outcome(
            deps,
            ctx,
            invoice.id,
            current.number,
            current.gateway,
            ChargeOutcome(
                succeeded=succeeded,
                reference=ev.payment_intent_id,
                decline_code=ev.decline_code,
                message=ev.message,
            ),
        )
        return "applied"
    if current.outcome == "failed" and succeeded:
        # The synchronous call was recorded as failed (e.g. the gateway timed out) but the charge
        # went through: the gateway's word is final, so the payment is recorded after all.
        return _late_success(deps, ctx, invoice.id, current.number, current.gateway, ev.payment_intent_id)
    return "already_applied"  # a payment_failed after a success never undoes the payment


def _late_success(
    deps: Deps, ctx: Context, invoice_id: str, number: int, gateway: str, reference: str | None
) -> str:
    def attempt() -> str:
        loaded = load(deps.store, Invoice, invoice_id)
        invoice: Invoice = loaded.state
        current = next(a for a in invoice.attempts if a.number == number)
        if current.outcome == "succeeded":
            return "already_applied"
        now: datetime = deps.clock()
        batch = deps.batch(ctx)
        batch.extend(
            loaded,
            PaymentSucceeded(attempt=number, gateway=gateway, gateway_reference=reference, paid_at=now),
        )
        if invoice.status == "OPEN":
            for order_id in invoice.issued.order_ids:
                order = load(deps.store, Order, order_id)
                if order.state.charged_at is None:
                    batch.extend(order, OrderCharged(invoice_id=invoice_id, charged_at=now))
        deps.commit(batch)
        return "applied"

    return retry_on_conflict(attempt)


# -- receiving: store, then apply ---------------------------------------------------------------------------


def receive_beluga(
    deps: Deps, default_org: str, body: bytes, signature: str | None, wh: BelugaWebhook
) -> Receipt:
    org = _org_of(deps, Order, order_id_of_master(wh.master_id), default_org)
    stored = store_raw(deps, org, BELUGA, wh.event_id, wh.event, body, signature)
    return _receipt(stored, apply_beluga(deps, wh))


def receive_pharmacy(
    deps: Deps, default_org: str, partner: str, body: bytes, signature: str | None, wh: PharmacyWebhook
) -> Receipt:
    org = _org_of(deps, Order, parse_pharmacy_reference(wh.reference_id)[0], default_org)
    stored = store_raw(deps, org, pharmacy_vendor(partner), wh.event_id, wh.status, body, signature)
    return _receipt(stored, apply_pharmacy(deps, partner, wh))


def receive_stripe(
    deps: Deps, default_org: str, body: bytes, signature: str | None, ev: StripeEvent
) -> Receipt:
    org = ev.metadata.get("organization_id") or _org_of(
        deps, Invoice, ev.metadata.get("invoice_id"), default_org
    )
    stored = store_raw(deps, org, STRIPE, ev.id, ev.type, body, signature)
    return Receipt(not stored, apply_stripe(deps, ev))


def reapply_stored(deps: Deps, stored: WebhookReceived) -> str:
    """The worker's pass over a stored delivery (it was verified before it was stored)."""
    body = stored.body.encode()
    if stored.event_type == UNPARSEABLE:
        return "ignored"
    if stored.vendor == BELUGA:
        return apply_beluga(deps, parse_beluga_webhook(body))
    if stored.vendor == STRIPE:
        return apply_stripe(deps, read_verified_event(body))
    if stored.vendor.startswith("pharmacy:"):
        return apply_pharmacy(deps, stored.vendor.split(":", 1)[1], parse_pharmacy_webhook(body))
    return "ignored"
