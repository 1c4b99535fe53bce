"""Clinic cart routes (API.md "Clinic ordering"): open, lines, validate, one checkout."""

from __future__ import annotations

from api.clinic.models import (
    CLINIC,
    CartOut,
    CheckoutIn,
    CheckoutOut,
    DeclinedCheckoutProblem,
    InvalidCartProblem,
    LineIn,
    LinePatch,
    ValidationOut,
    cart_out,
    clinic_order_out,
    clinic_route,
    problems_out,
    user_of,
    validation_out,
)
from api.endpoint import Call, Reply, endpoint
from api.error_words import detail_of
from api.problems import ApiError, Problem
from api.routes_catalog import ERRORS
from api.views import invoice_out, payment_out
from domain.clinic.cart import LineDraft
from domain.clinic.validation import CartNotValid
from service import clinic
from service.clinic import CheckoutResult


@clinic_route("POST", "/clinic/carts", "Open a cart for the caller's clinic", CartOut, status=201)
def open_cart(call: Call) -> Reply:
    return Reply(201, cart_out(clinic.open_cart(call.runtime.deps, call.ctx(), user_of(call))))


@clinic_route("GET", "/clinic/carts/{cart_id}", "A cart with landed per-vial cost on every line", CartOut)
def get_cart(call: Call) -> Reply:
    return Reply(
        200, cart_out(clinic.get_cart(call.runtime.deps, call.ctx(), user_of(call), call.path("cart_id")))
    )


@clinic_route(
    "POST",
    "/clinic/carts/{cart_id}/lines",
    "Add a line (same patient and product merges)",
    CartOut,
    status=201,
    body=LineIn,
)
def add_line(call: Call) -> Reply:
    b: LineIn = call.body
    deps, ctx, user, cart_id = call.runtime.deps, call.ctx(), user_of(call), call.path("cart_id")
    view = clinic.add_lines(
        deps,
        ctx,
        user,
        cart_id,
        [LineDraft(b.patient_id, b.product_id, b.quantity, b.pharmacy_id, b.sig, b.prescriber_id)],
    )
    return Reply(201, cart_out(view))


@clinic_route(
    "PATCH",
    "/clinic/carts/{cart_id}/lines/{line_id}",
    "Change a line's quantity, pharmacy, SIG or prescriber",
    CartOut,
    body=LinePatch,
)
def patch_line(call: Call) -> Reply:
    b: LinePatch = call.body
    view = clinic.change_line(
        call.runtime.deps,
        call.ctx(),
        user_of(call),
        call.path("cart_id"),
        call.path("line_id"),
        quantity=b.quantity,
        pharmacy_id=b.pharmacy_id,
        sig=b.sig,
        prescriber_id=b.prescriber_id,
    )
    return Reply(200, cart_out(view))


@clinic_route("DELETE", "/clinic/carts/{cart_id}/lines/{line_id}", "Remove a line", CartOut)
def delete_line(call: Call) -> Reply:
    view = clinic.remove_line(
        call.runtime.deps, call.ctx(), user_of(call), call.path("cart_id"), call.path("line_id")
    )
    return Reply(200, cart_out(view))


@clinic_route(
    "POST",
    "/clinic/carts/{cart_id}/validate",
    "Validate the whole cart: every problem, per line",
    ValidationOut,
)
def validate_cart(call: Call) -> Reply:
    deps, ctx, user, cart_id = call.runtime.deps, call.ctx(), user_of(call), call.path("cart_id")
    outcome = clinic.validate(deps, ctx, user, cart_id)
    return Reply(200, validation_out(outcome, clinic.get_cart(deps, ctx, user, cart_id)))


@endpoint(
    "POST",
    "/clinic/carts/{cart_id}/checkout",
    summary="One payment for the cart; one order per line",
    roles=CLINIC,
    tag="clinic",
    body=CheckoutIn,
    headers=("Idempotency-Key",),
    responses={
        201: CheckoutOut,
        200: CheckoutOut,
        **ERRORS,
        422: InvalidCartProblem,
        402: DeclinedCheckoutProblem,
        502: Problem,
    },
)
def checkout(call: Call) -> Reply:
    try:
        result: CheckoutResult = clinic.checkout(
            call.runtime.deps,
            call.ctx(),
            user_of(call),
            call.path("cart_id"),
            call.body.payment_method_id,
            call.header("idempotency-key"),
        )
    except CartNotValid as exc:
        view = clinic.get_cart(call.runtime.deps, call.ctx(), user_of(call), call.path("cart_id"))
        raise ApiError(
            422,
            "Cart not valid",
            detail_of(exc),
            reasons=exc.reasons,
            extra={"problems": [p.model_dump() for p in problems_out(exc.problems, view)]},
        ) from exc
    orders = [clinic_order_out(o) for o in result.orders]
    attempt = result.attempt
    if result.invoice.status == "OPEN" and attempt is not None and attempt.outcome == "failed":
        raise ApiError(
            402,
            "Payment declined",
            f"The payment gateway declined the transaction: {attempt.message}",
            reasons=(attempt.decline_code or "DECLINED",),
            extra={
                "orders": [o.model_dump(mode="json") for o in orders],
                "invoice": invoice_out(result.invoice).model_dump(mode="json"),
                "payment": payment_out(attempt).model_dump(mode="json"),
            },
        )
    return Reply(
        201 if result.created else 200,
        CheckoutOut(
            orders=orders,
            invoice=invoice_out(result.invoice),
            payment=payment_out(attempt) if attempt else None,
            created=result.created,
        ),
    )


routes = [open_cart, get_cart, add_line, patch_line, delete_line, validate_cart, checkout]
