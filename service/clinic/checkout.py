"""One checkout for a clinic cart: one order per line and one invoice in a single commit, charged once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

from adapters.crashpoint import AFTER_CHECKOUT_BATCH, crash_point
from domain.clinic.cart import Cart
from domain.clinic.checkout import CheckoutIds, plan_checkout
from domain.clinic.directory import Clinic
from domain.clinic.pharmacies import Pharmacy
from domain.errors import InvalidCommand, NotFound
from domain.invoices import Attempt, Invoice, evolve_invoice
from domain.orders import Order
from domain.parties import SavedPaymentMethod
from service.clinic.cart import cart_world, owned_cart
from service.clinic.directory import clinic_of
from service.deps import Deps, retry_on_conflict
from service.idempotency import KeyedRequest, claim, claimed_resource
from service.payments import drive_attempt, new_attempt, replay_attempt
from service.unit import Context, load_owned


@dataclass(frozen=True)
class CheckoutResult:
    cart: Cart
    orders: list[Order]
    invoice: Invoice
    attempt: Attempt | None
    created: bool  # False: an earlier checkout (or key) was returned, nothing new was placed


def _clinic_method(deps: Deps, ctx: Context, clinic: Clinic, payment_method_id: str) -> SavedPaymentMethod:
    method = clinic.method(payment_method_id)
    if method is None:
        raise NotFound("No such payment method.")
    if method.gateway != deps.organization(ctx.organization_id).active_gateway:
        raise InvalidCommand(
            "The payment method is not of the organization's active gateway.",
            field="payment_method_id",
            reasons=("PAYMENT_METHOD_NOT_USABLE",),
        )
    return method


def checkout(
    deps: Deps, ctx: Context, user_id: str, cart_id: str, payment_method_id: str, idempotency_key: str | None
) -> CheckoutResult:
    """Validate, place one order per line and one invoice in a single commit, then charge once.

    A declined charge leaves the orders and the invoice in place; checking the same cart out
    again retries the payment on that invoice and never places the orders twice. A reused key
    returns what the first request did.
    """
    clinic = clinic_of(deps, ctx, user_id)
    keyed = KeyedRequest.of(
        f"clinic-checkout/clinic/{clinic.id}",
        idempotency_key,
        {"cart_id": cart_id, "payment_method_id": payment_method_id},
    )
    method = _clinic_method(deps, ctx, clinic, payment_method_id)

    # -> invoice id, attempt to report, how to go on with it, whether the orders were placed just now
    def place() -> tuple[str, int | None, str, bool]:
        previous = claimed_resource(deps, keyed)
        if previous is not None:
            claimed_invoice, claimed_number = previous.rsplit("#", 1)
            return claimed_invoice, int(claimed_number) or None, "replay", False
        loaded = owned_cart(deps, ctx, clinic, cart_id)
        cart: Cart = loaded.state
        batch = deps.batch(ctx)
        if cart.checked_out is not None:
            invoice_loaded = load_owned(deps.store, ctx, Invoice, cart.checked_out.invoice_id)
            invoice: Invoice = invoice_loaded.state
            if invoice.status != "OPEN":  # already paid (or closed): simply reported
                number = len(invoice.attempts)
                claim(batch, keyed, "payment_attempt", f"{invoice.id}#{number}")
                deps.commit(batch)
                return invoice.id, number or None, "report", False
            # Already placed and still open: charge it again, the attempt in this commit.
            attempted = new_attempt(deps, invoice, method)
            batch.extend(invoice_loaded, attempted)
            claim(batch, keyed, "payment_attempt", f"{invoice.id}#{attempted.attempt}")
            deps.commit(batch)
            redriven = attempted.attempt <= len(invoice.attempts)
            return invoice.id, attempted.attempt, "redrive" if redriven else "charge", False
        ids = [deps.new_id() for _ in cart.lines]
        invoice_id = deps.new_id()
        world = cart_world(deps, ctx, clinic, cart)
        # Stock is validated against, and reserved at, the version of each pharmacy read here: a
        # concurrent checkout that reserved first makes this append conflict, and the retry
        # validates again against what is left (OUT_OF_STOCK when the vials are gone).
        stocked = {pid: load_owned(deps.store, ctx, Pharmacy, pid) for pid in world.pharmacies}
        world = replace(world, pharmacies={pid: ph.state for pid, ph in stocked.items()})
        plan = plan_checkout(
            cart,
            world,
            CheckoutIds(invoice_id, tuple(ids), tuple(deps.order_number(i) for i in ids)),
            batch.now,
        )
        for order in plan.orders:
            batch.start(UUID(order.order_id), order.placed, order.rx)
        # The charge attempt is part of the checkout's one commit (see service.refills).
        attempted = new_attempt(deps, evolve_invoice(None, plan.invoice, invoice_id), method)
        batch.start(UUID(invoice_id), plan.invoice, attempted)
        batch.extend(loaded, plan.checked_out)
        for pharmacy_id, reserved in plan.reservations.items():
            batch.extend(stocked[pharmacy_id], *reserved)
        claim(batch, keyed, "payment_attempt", f"{invoice_id}#{attempted.attempt}")
        deps.commit(batch)
        return invoice_id, attempted.attempt, "charge", True

    invoice_id, number, then, placed = retry_on_conflict(place)
    if placed:
        crash_point(AFTER_CHECKOUT_BATCH)
    if number is not None and then in ("charge", "redrive"):
        drive_attempt(deps, ctx, invoice_id, number, ask_first=then == "redrive")
    elif number is not None and then == "replay":
        replay_attempt(deps, ctx, invoice_id, number)
    return _checkout_result(deps, ctx, clinic, cart_id, invoice_id, number, created=placed)


def _checkout_result(
    deps: Deps,
    ctx: Context,
    clinic: Clinic,
    cart_id: str,
    invoice_id: str,
    number: int | None,
    *,
    created: bool,
) -> CheckoutResult:
    cart: Cart = owned_cart(deps, ctx, clinic, cart_id).state
    invoice: Invoice = load_owned(deps.store, ctx, Invoice, invoice_id).state
    orders = [load_owned(deps.store, ctx, Order, oid).state for oid in invoice.issued.order_ids]
    attempt = next((a for a in invoice.attempts if a.number == number), None)
    return CheckoutResult(cart, orders, invoice, attempt, created)
