"""The patient refill request of seed 001, end to end.

Eligibility → one atomic batch (refill, new order, new invoice, the original order's link and
the idempotency key) → an immediate charge. Concurrent or repeated requests cannot create a
second refill: they all append to the original order at the same expected version, and the
losers re-read it and find the open refill, which they return for payment instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from uuid import UUID

from adapters.crashpoint import AFTER_REFILL_BATCH, crash_point
from domain import refills
from domain.catalog import Product
from domain.errors import NotEligible, NotFound
from domain.invoices import Invoice, evolve_invoice
from domain.orders import Order
from domain.parties import Patient
from domain.refills import Refill, RefillIds
from service.deps import Deps, retry_on_conflict
from service.idempotency import KeyedRequest, claim, claimed_resource
from service.payments import charge_invoice, drive_attempt, new_attempt, redrive_stale, usable_method
from service.unit import Context, Unit, try_load


@dataclass(frozen=True)
class RefillOutcome:
    refill: Refill
    order: Order
    invoice: Invoice
    created: bool  # False when an earlier open refill (or an earlier key) was returned


def current_products(deps: Deps, ctx: Context, order: Order) -> dict[str, Product]:
    found = (try_load(deps.store, Product, line.product_id) for line in order.placed.lines)
    return {p.state.id: p.state for p in found if p is not None and p.organization_id == ctx.organization_id}


def refill_orders(uow: Unit, order: Order, product_id: str) -> dict[str, Order]:
    """The refill orders the open-refill check needs: only the newest of this product (see
    `domain.refills.refill_to_check`), none when the order was never refilled with it."""
    latest = refills.refill_to_check(order, product_id)
    return {latest.refill_order_id: uow.orders.get(latest.refill_order_id)} if latest else {}


def request_refill(
    deps: Deps,
    ctx: Context,
    patient_id: str,
    order_id: str,
    product_id: str,
    payment_method_id: str,
    idempotency_key: str | None,
) -> RefillOutcome:
    keyed = KeyedRequest.of(
        f"refill/patient/{patient_id}",
        idempotency_key,
        {"order_id": order_id, "product_id": product_id, "payment_method_id": payment_method_id},
    )
    uow = deps.unit(ctx)  # each stream read at most once in this request
    patient = uow.patients.get(patient_id)
    tries = 0

    def create_or_find() -> tuple[str, bool, bool]:
        """(refill id, created now, replay of an earlier request with this key)."""
        nonlocal tries
        tries += 1
        # A key is claimed by starting its stream in the batch below, so a fresh key needs no read:
        # a key used before fails that commit, and the retry reads what it was used for.
        previous = claimed_resource(deps, keyed) if tries > 1 else None
        if previous is not None:
            return previous, False, True
        original = uow.orders.loaded(order_id)
        if original.state.patient_id != patient_id:
            raise NotFound("No such order.")  # another patient's order: never hint it exists
        product = uow.find(Product, product_id)
        active = deps.organization(ctx.organization_id, uow).active_gateway
        reasons = refills.eligibility_for_request(
            original.state, patient, product.state if product else None, product_id, payment_method_id, active
        )
        if reasons:
            # What an earlier request with this key made may be why it is not eligible now: the
            # replay gets that request's answer (the key is read only on this unhappy path).
            previous = claimed_resource(deps, keyed) if tries == 1 else None
            if previous is not None:
                return previous, False, True
            raise NotEligible(
                "This order cannot be refilled.",  # the API adds each reason's words
                reasons=tuple(reasons),
            )
        existing = refills.open_refill(
            original.state, product_id, refill_orders(uow, original.state, product_id)
        )
        batch = deps.batch(ctx)
        if existing is not None:
            claim(batch, keyed, "refill", existing)
            deps.commit(batch, uow)
            return existing, False, False
        if product is None:  # eligibility names a missing product; this keeps the types honest
            raise NotFound("No such product.")
        new_order_id = deps.new_id()
        ids = RefillIds(
            refill_id=deps.new_id(),
            order_id=new_order_id,
            order_number=deps.order_number(new_order_id),
            invoice_id=deps.new_id(),
        )
        decision = refills.request_refill(
            original.state, product.state, patient, payment_method_id, ids, idempotency_key, deps.clock()
        )
        method = usable_method(patient, payment_method_id)  # eligibility checked it is the patient's
        # The charge attempt is part of the request's one commit: a crash after it leaves an
        # attempt the reconciler finishes, never a refill with an invoice nobody will charge.
        attempted = new_attempt(deps, evolve_invoice(None, decision.invoice, ids.invoice_id), method)
        batch.start(UUID(ids.refill_id), decision.refill)
        batch.start(UUID(ids.order_id), decision.order)
        batch.start(UUID(ids.invoice_id), decision.invoice, attempted)
        batch.extend(original, decision.original)
        claim(batch, keyed, "refill", ids.refill_id)
        deps.commit(batch, uow)
        return ids.refill_id, True, False

    refill_id, created, replayed = retry_on_conflict(create_or_find)
    refill = uow.refills.get(refill_id)  # just written: the unit holds it, nothing is read
    invoice = uow.invoices.get(refill.requested.invoice_id)
    if created:
        crash_point(AFTER_REFILL_BATCH)
        drive_attempt(deps, ctx, invoice.id, 1, ask_first=False, uow=uow)
    elif replayed:
        # A replayed key gets the first answer back, finishing its charge if it was interrupted.
        redrive_stale(deps, ctx, invoice.id)
        uow = deps.unit(ctx)
    elif invoice.status == "OPEN" and _no_attempt_in_flight(invoice):
        # An earlier open refill, asked for again: pay its open invoice (a retry after a decline).
        charge_invoice(deps, ctx, invoice.id, usable_method(patient, payment_method_id))
        uow = deps.unit(ctx)
    return _outcome(uow, refill_id, created=created)


def _no_attempt_in_flight(invoice: Invoice) -> bool:
    last = invoice.last_attempt
    return last is None or last.outcome != "pending"


def _outcome(uow: Unit, refill_id: str, *, created: bool) -> RefillOutcome:
    """The answer, from the states the unit wrote (or reads once, for an earlier refill)."""
    refill = uow.refills.get(refill_id)
    order = uow.orders.get(refill.requested.refill_order_id)
    invoice = uow.invoices.get(refill.requested.invoice_id)
    return RefillOutcome(refill, order, invoice, created)


def refill_block(deps: Deps, ctx: Context, order: Order, patient: Patient, active: str) -> dict[str, object]:
    """The portal's view of one order: may it be refilled, with what, and why not.

    `active` is the organization's active gateway, read once per listing by the caller.
    """
    products = current_products(deps, ctx, order)
    reasons = refills.eligibility_for_listing(order, patient, products, active)
    offered = refills.refillable_products(order, products)
    methods = patient.methods_for(active)
    uow = deps.unit(ctx)
    newest = {
        latest.refill_order_id: uow.orders.get(latest.refill_order_id)
        for p in offered
        if (latest := refills.refill_to_check(order, p.id)) is not None
    }
    busy = {p.id: refills.refill_in_progress(order, p.id, newest) for p in offered}
    if not reasons and offered and all(busy.values()):
        # Every product already has a refill on its way: the button would only return it.
        reasons = [refills.REFILL_IN_PROGRESS]
    listed = not reasons or reasons == [refills.REFILL_IN_PROGRESS]
    options = [
        {
            "product_id": p.id,
            "name": p.name,
            "unit_price_cents": p.price_cents,
            "original_quantity": line.quantity,
            "total_today_cents": p.price_cents,  # what "Pay & Request Refill" charges: quantity 1
            "in_progress": asdict(found) if (found := busy[p.id]) else None,
        }
        for p in offered
        if (line := order.line_for(p.id)) is not None
    ]
    selectable = [o for o in options if o["in_progress"] is None]
    return {
        "eligible": not reasons,
        "reasons": reasons,
        "products": options if listed else [],
        "payment_methods": [
            {"id": m.id, "gateway": m.gateway, "label": m.label, "brand": m.brand, "last4": m.last4}
            for m in methods
        ],
        # The pre-selected product's price; each product carries its own.
        "total_today_cents": selectable[0]["total_today_cents"] if selectable and not reasons else 0,
    }
