"""Orders, invoice payments, patient refills and subscription cycles."""

from __future__ import annotations

from api import models as m
from api.endpoint import Call, Reply, endpoint
from api.problems import ApiError, Problem
from api.routes_catalog import ERRORS
from api.views import audience_of, invoice_out, order_out, payment_out, refill_out, subscription_out
from domain.invoices import Attempt, Invoice
from domain.orders import Order
from domain.refills import CLOSED_STATUSES
from projections.order_search import orders_of_patient
from service import catalog, orders, refills, resubmission, subscriptions
from service.clinic.reads import clinic_order
from service.payments import PaymentResult


class DeclinedProblem(Problem):
    """402: the gateway declined; the invoice (and for a refill, the order) exist and stay open."""

    invoice: m.InvoiceOut
    payment: m.PaymentOut
    refill_order: m.OrderOut | None = None


PAY_ERRORS: dict[int, type[Problem]] = {**ERRORS, 402: DeclinedProblem, 502: Problem}


def _order_view(call: Call, order: Order) -> m.OrderOut:
    invoice = orders.get_invoice(call.runtime.deps, call.ctx(), order.placed.invoice_id)
    return order_out(order, invoice, audience_of(call))


def _declined(invoice: Invoice, attempt: Attempt, refill_order: m.OrderOut | None = None) -> ApiError:
    detail = f"The payment gateway declined the transaction: {attempt.message}"
    extra = {
        "invoice": invoice_out(invoice).model_dump(mode="json"),
        "payment": payment_out(attempt).model_dump(mode="json"),
    }
    if refill_order is not None:
        extra["refill_order"] = refill_order.model_dump(mode="json")
    return ApiError(
        402, "Payment declined", detail, reasons=(attempt.decline_code or "DECLINED",), extra=extra
    )


@endpoint(
    "POST",
    "/orders",
    summary="Place an order (EMR checkout) with its invoice",
    roles=("staff", "service"),
    tag="orders",
    body=m.OrderIn,
    headers=("Idempotency-Key",),
    responses={201: m.PlacedOrderOut, **ERRORS},
)
def place_order(call: Call) -> Reply:
    b: m.OrderIn = call.body
    placed = orders.place_order(
        call.runtime.deps, call.ctx(), b.patient_id, [(ln.product_id, ln.quantity) for ln in b.lines]
    )
    return Reply(
        201,
        m.PlacedOrderOut(order=order_out(placed.order, placed.invoice), invoice=invoice_out(placed.invoice)),
    )


@endpoint(
    "GET",
    "/orders/{order_id}",
    summary="One order with its invoice, links and progress",
    roles=("patient", "clinic", "staff", "cs", "ops", "service"),
    tag="orders",
    responses={200: m.OrderOut, **ERRORS},
)
def get_order(call: Call) -> Reply:
    order = orders.get_order(call.runtime.deps, call.ctx(), call.path("order_id"))
    call.only_own(order.patient_id, "order")
    if call.principal.role == "clinic":  # a clinic user sees its own clinic's orders only
        clinic_order(call.runtime.deps, call.ctx(), call.principal.subject or "", order)
    return Reply(200, _order_view(call, order))


@endpoint(
    "POST",
    "/orders/{order_id}/cancel",
    summary="Cancel an unpaid order",
    roles=("staff",),
    tag="orders",
    body=m.ReasonIn,
    headers=("Idempotency-Key",),
    responses={200: m.OrderOut, **ERRORS},
)
def cancel_order(call: Call) -> Reply:
    order = orders.cancel_order(call.runtime.deps, call.ctx(), call.path("order_id"), call.body.reason)
    return Reply(200, _order_view(call, order))


@endpoint(
    "POST",
    "/orders/{order_id}/refund",
    summary="Refund a paid order through its gateway",
    roles=("staff",),
    tag="orders",
    body=m.ReasonIn,
    headers=("Idempotency-Key",),
    responses={200: m.OrderOut, **ERRORS, 502: Problem},
)
def refund_order(call: Call) -> Reply:
    order = orders.refund_order(call.runtime.deps, call.ctx(), call.path("order_id"), call.body.reason)
    return Reply(200, _order_view(call, order))


@endpoint(
    "POST",
    "/orders/{order_id}/fulfillment/resubmit",
    summary="Send the order to its pharmacy again, under a new attempt key, after a rejection or a "
    "permanent error (the fulfillment gate is asked again first)",
    roles=("staff", "ops"),
    tag="orders",
    body=m.ReasonIn,
    responses={202: m.OrderOut, **ERRORS},
)
def resubmit_fulfillment(call: Call) -> Reply:
    partners = frozenset(call.runtime.pharmacies)
    order = resubmission.resubmit_to_pharmacy(
        call.runtime.deps, call.ctx(), call.path("order_id"), call.body.reason, partners
    )
    return Reply(202, _order_view(call, order))


@endpoint(
    "POST",
    "/invoices/{invoice_id}/payments",
    summary="Pay an invoice with a saved card",
    roles=("patient", "staff", "service"),
    tag="orders",
    body=m.PaymentIn,
    headers=("Idempotency-Key",),
    responses={200: m.PaymentReply, **PAY_ERRORS},
)
def pay_invoice(call: Call) -> Reply:
    deps, ctx = call.runtime.deps, call.ctx()
    invoice = orders.get_invoice(deps, ctx, call.path("invoice_id"))
    call.only_own(invoice.issued.patient_id or "", "invoice")
    result: PaymentResult = orders.pay_invoice(
        deps, ctx, invoice.id, call.body.payment_method_id, call.header("idempotency-key")
    )
    if result.attempt.outcome == "failed":
        raise _declined(result.invoice, result.attempt)
    return Reply(
        200, m.PaymentReply(invoice=invoice_out(result.invoice), payment=payment_out(result.attempt))
    )


@endpoint(
    "GET",
    "/patients/{patient_id}/orders",
    summary="A patient's orders, each with its refill options",
    roles=("patient", "cs", "staff"),
    tag="orders",
    responses={200: m.PatientOrdersOut, **ERRORS},
)
def patient_orders(call: Call) -> Reply:
    deps, ctx, patient_id = call.runtime.deps, call.ctx(), call.path("patient_id")
    call.only_own(patient_id, "patient")
    patient = catalog.get_patient(deps, ctx, patient_id)
    call.runtime.refresh_views()
    active = deps.organization(ctx.organization_id).active_gateway
    listed = []
    for order_id in orders_of_patient(call.runtime.views, ctx.organization_id, patient_id):
        order = orders.get_order(deps, ctx, order_id)
        block = refills.refill_block(deps, ctx, order, patient, active)
        listed.append(
            m.PatientOrderOut(**_order_view(call, order).model_dump(), refill=m.RefillBlock(**block))
        )
    return Reply(200, m.PatientOrdersOut(patient_id=patient_id, orders=listed))


@endpoint(
    "POST",
    "/orders/{order_id}/refills",
    summary="Request a refill and pay for it at once",
    roles=("patient",),
    tag="refills",
    body=m.RefillIn,
    headers=("Idempotency-Key",),
    responses={201: m.RefillReply, 200: m.RefillReply, **PAY_ERRORS},
)
def request_refill(call: Call) -> Reply:
    b: m.RefillIn = call.body
    assert call.principal.subject is not None
    outcome = refills.request_refill(
        call.runtime.deps,
        call.ctx(),
        call.principal.subject,
        call.path("order_id"),
        b.product_id,
        b.payment_method_id,
        call.header("idempotency-key"),
    )
    refill_order = order_out(outcome.order, outcome.invoice, "patient")
    last = outcome.invoice.last_attempt
    if outcome.invoice.status == "OPEN" and last is not None and last.outcome == "failed":
        raise _declined(outcome.invoice, last, refill_order)
    return Reply(
        201 if outcome.created else 200,
        m.RefillReply(
            refill=refill_out(outcome.refill),
            refill_order=refill_order,
            invoice=invoice_out(outcome.invoice),
            payment=payment_out(last) if last else None,
            created=outcome.created,
            in_progress=not outcome.created and refill_order.status not in CLOSED_STATUSES,
            message=None if outcome.created else _already_requested(outcome.order, refill_order),
        ),
    )


def _already_requested(order: Order, shown: m.OrderOut) -> str:
    """A second request answered with the first refill says so, in words the patient reads."""
    original = order.placed.refill_of_order_number or "your order"
    if shown.status in CLOSED_STATUSES:  # the same key again, after that refill ended
        return f"This refill was already requested ({shown.number}); nothing new was ordered."
    if not order.paid:
        return (
            f"A refill of this product from {original} was already requested ({shown.number}) and is "
            "waiting for payment. That refill was returned for payment; nothing new was ordered."
        )
    return (
        f"A refill of this product from {original} is already in progress ({shown.number}): "
        f"{shown.status_explanation} It was returned, not bought again. You can request another "
        "once it has been delivered."
    )


@endpoint(
    "POST",
    "/subscriptions",
    summary="Start a subscription; the ledger then bills each cycle on its date",
    roles=("staff", "service"),
    tag="subscriptions",
    body=m.SubscriptionIn,
    headers=("Idempotency-Key",),
    responses={201: m.SubscriptionOut, **ERRORS},
)
def start_subscription(call: Call) -> Reply:
    b: m.SubscriptionIn = call.body
    sub = subscriptions.start_subscription(
        call.runtime.deps,
        call.ctx(),
        patient_id=b.patient_id,
        product_id=b.product_id,
        payment_method_id=b.payment_method_id,
        interval_days=b.interval_days,
    )
    return Reply(201, subscription_out(sub))


@endpoint(
    "POST",
    "/subscriptions/{subscription_id}/cycles",
    summary="Bill a subscription cycle now (the outside processor, or staff by hand)",
    roles=("staff", "service"),  # API.md "Subscriptions"
    tag="subscriptions",
    body=m.CycleIn,
    headers=("Idempotency-Key",),
    responses={201: m.CycleReply, 200: m.CycleReply, **PAY_ERRORS},
)
def bill_cycle(call: Call) -> Reply:
    result = subscriptions.bill_cycle(
        call.runtime.deps, call.ctx(), call.path("subscription_id"), call.body.cycle_number
    )
    last = result.invoice.last_attempt
    return Reply(
        201 if result.created else 200,
        m.CycleReply(
            subscription=subscription_out(result.subscription),
            order=order_out(result.order, result.invoice),
            invoice=invoice_out(result.invoice),
            payment=payment_out(last) if last else None,
            created=result.created,
        ),
    )


routes = [
    place_order,
    get_order,
    cancel_order,
    refund_order,
    resubmit_fulfillment,
    pay_invoice,
    patient_orders,
    request_refill,
    start_subscription,
    bill_cycle,
]
