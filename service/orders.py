"""Orders placed by staff or a service, invoice payment, cancellation and refunds."""

from __future__ import annotations

from dataclasses import dataclass

from domain.catalog import Product
from domain.errors import Conflict, InvalidCommand
from domain.events import Fact
from domain.invoices import (
    Invoice,
    InvoiceIssued,
    InvoiceLineRefunded,
    InvoiceRefunded,
    InvoiceVoided,
    evolve_invoice,
)
from domain.orders import Order, OrderCanceled, OrderLine, OrderPlaced, OrderRefunded, Source, SourceContext
from domain.parties import Patient, SavedPaymentMethod
from service.catalog import get_patient, get_product
from service.clinic.stock import release_if_unfilled
from service.deps import Deps, retry_on_conflict
from service.idempotency import KeyedRequest, claimed_resource
from service.payments import (
    PaymentResult,
    charge_invoice,
    claimed_attempt,
    new_attempt,
    replay_attempt,
    usable_method,
)
from service.unit import Batch, Context, load_owned


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    invoice: Invoice


def line_for(product: Product, quantity: int) -> OrderLine:
    if quantity < 1:
        raise InvalidCommand("Quantity must be at least 1.", field="quantity")
    if not product.active:
        raise InvalidCommand(
            f"Product {product.sku} is not active.", field="product_id", reasons=("PRODUCT_INACTIVE",)
        )
    return OrderLine(
        product_id=product.id,
        sku=product.sku,
        name=product.name,
        kind=product.kind,
        quantity=quantity,
        unit_price_cents=product.price_cents,
        requires_intake=product.requires_intake,
        lab=product.lab,
    )


def single_currency(products: list[Product]) -> str:
    currencies = {p.currency for p in products}
    if len(currencies) != 1:
        raise InvalidCommand("All lines of an order must share one currency.", field="lines")
    return currencies.pop()


def stage_order(
    deps: Deps,
    batch: Batch,
    patient: Patient,
    lines: list[OrderLine],
    *,
    currency: str,
    source: Source,
    source_context: SourceContext,
    charge_with: SavedPaymentMethod | None = None,
    **links: object,
) -> tuple[str, str]:
    """Add an order and its invoice to a batch; returns (order id, invoice id). With `charge_with`,
    the invoice's first charge attempt joins the same commit (charge it with `drive_attempt`): a
    crash before the charge leaves an attempt the reconciler finishes, never an invoice nobody pays."""
    if not lines:
        raise InvalidCommand("An order needs at least one line.", field="lines")
    order_id, invoice_id = deps.new_uuid(), deps.new_uuid()
    amount = sum(line.unit_price_cents * line.quantity for line in lines)
    batch.start(
        order_id,
        OrderPlaced(
            number=deps.order_number(str(order_id)),
            patient_id=patient.id,
            invoice_id=str(invoice_id),
            lines=tuple(lines),
            currency=currency,
            source=source,
            source_context=source_context,
            placed_at=batch.now,
            **links,
        ),
    )  # type: ignore[arg-type,unused-ignore]
    issued = InvoiceIssued(
        order_ids=(str(order_id),), amount_cents=amount, currency=currency, patient_id=patient.id
    )
    first: list[Fact] = []
    if charge_with is not None:
        first.append(new_attempt(deps, evolve_invoice(None, issued, str(invoice_id)), charge_with))
    batch.start(invoice_id, issued, *first)
    return str(order_id), str(invoice_id)


def place_order(deps: Deps, ctx: Context, patient_id: str, items: list[tuple[str, int]]) -> PlacedOrder:
    patient = get_patient(deps, ctx, patient_id)
    products = [get_product(deps, ctx, product_id) for product_id, _ in items]
    lines = [line_for(product, qty) for product, (_, qty) in zip(products, items, strict=True)]
    batch = deps.batch(ctx)
    order_id, invoice_id = stage_order(
        deps,
        batch,
        patient,
        lines,
        currency=single_currency(products),
        source="EMR",
        source_context="CHECKOUT",
    )
    deps.commit(batch)
    return PlacedOrder(get_order(deps, ctx, order_id), get_invoice(deps, ctx, invoice_id))


def get_order(deps: Deps, ctx: Context, order_id: str) -> Order:
    state = load_owned(deps.store, ctx, Order, order_id).state
    return state


def get_invoice(deps: Deps, ctx: Context, invoice_id: str) -> Invoice:
    state = load_owned(deps.store, ctx, Invoice, invoice_id).state
    return state


def pay_invoice(
    deps: Deps,
    ctx: Context,
    invoice_id: str,
    payment_method_id: str,
    idempotency_key: str | None,
) -> PaymentResult:
    """Pay an invoice with one of its patient's saved cards; a reused key replays the first result."""
    invoice = get_invoice(deps, ctx, invoice_id)
    if invoice.issued.patient_id is None:
        raise InvalidCommand("This invoice is paid through its clinic cart.", field="invoice_id")
    keyed = KeyedRequest.of(
        f"payment/invoice/{invoice_id}", idempotency_key, {"payment_method_id": payment_method_id}
    )
    previous = claimed_resource(deps, keyed)
    if previous is not None:
        return replay_attempt(deps, ctx, invoice_id, claimed_attempt(previous))
    patient = get_patient(deps, ctx, invoice.issued.patient_id)
    method = usable_method(patient, payment_method_id)
    active = deps.organization(ctx.organization_id).active_gateway
    if method.gateway != active:
        raise InvalidCommand(
            "The payment method is not of the organization's active gateway.",
            field="payment_method_id",
            reasons=("PAYMENT_METHOD_NOT_USABLE",),
        )
    # The key is claimed in the attempt's own commit: it can only ever name that attempt.
    return charge_invoice(deps, ctx, invoice_id, method, keyed=keyed)


def cancel_refusal(order: Order) -> Conflict | None:
    """Why `cancel_order` would refuse this order now (None: it would accept); the console asks too."""
    if order.canceled_reason is not None or order.refunded:
        return Conflict("The order is already canceled or refunded.", reasons=("ORDER_CLOSED",))
    if order.paid:
        return Conflict("A paid order is refunded, not canceled.", reasons=("ORDER_PAID",))
    return None


def refund_refusal(order: Order, invoice: Invoice) -> Conflict | None:
    """Why `refund_order` would refuse this order now (None: it would accept)."""
    if order.refunded or order.canceled_reason is not None:
        return Conflict("The order is already canceled or refunded.", reasons=("ORDER_CLOSED",))
    if invoice.status != "PAID" or invoice.succeeded_attempt is None:
        return Conflict("Only a paid order can be refunded.", reasons=("NOT_PAID",))
    return None


def cancel_order(deps: Deps, ctx: Context, order_id: str, reason: str) -> Order:
    def attempt() -> Order:
        order = load_owned(deps.store, ctx, Order, order_id)
        refused = cancel_refusal(order.state)
        if refused is not None:
            raise refused
        invoice = load_owned(deps.store, ctx, Invoice, order.state.placed.invoice_id)
        batch = deps.batch(ctx)
        canceled = OrderCanceled(reason=reason)
        batch.extend(order, canceled)
        release_if_unfilled(deps.store, batch, order.state, canceled)
        if invoice.state.status == "OPEN" and len(invoice.state.issued.order_ids) == 1:
            batch.extend(invoice, InvoiceVoided(reason=reason))
        deps.commit(batch)
        return get_order(deps, ctx, order_id)

    return retry_on_conflict(attempt)


def refund_order(deps: Deps, ctx: Context, order_id: str, reason: str) -> Order:
    """Refund through the gateway that took the payment, then record it."""
    order = get_order(deps, ctx, order_id)
    invoice = get_invoice(deps, ctx, order.placed.invoice_id)
    refused = refund_refusal(order, invoice)
    if refused is not None:
        raise refused
    paid = invoice.succeeded_attempt
    assert paid is not None
    amount = sum(line.total_cents for line in order.placed.lines)
    outcome = deps.gateway(paid.gateway).refund(
        idempotency_key=f"refund-{order_id}",
        charge_reference=paid.gateway_reference or "",
        amount_cents=amount,
    )
    if not outcome.succeeded:
        raise Conflict(f"The gateway refused the refund: {outcome.message}", reasons=("REFUND_FAILED",))

    def attempt() -> Order:
        loaded = load_owned(deps.store, ctx, Order, order_id)
        if loaded.state.refunded:
            return loaded.state
        inv = load_owned(deps.store, ctx, Invoice, order.placed.invoice_id)
        batch = deps.batch(ctx)
        batch.extend(loaded, OrderRefunded(reason=reason, amount_cents=amount))
        if len(inv.state.issued.order_ids) == 1:
            batch.extend(
                inv, InvoiceRefunded(amount_cents=amount, gateway_reference=outcome.reference, reason=reason)
            )
        else:  # one line of a clinic cart's invoice: a partial refund, recorded on the invoice too
            batch.extend(
                inv,
                InvoiceLineRefunded(
                    order_id=order_id, amount_cents=amount, gateway_reference=outcome.reference, reason=reason
                ),
            )
        deps.commit(batch)
        return get_order(deps, ctx, order_id)

    return retry_on_conflict(attempt)
