"""Clinic ordering over HTTP: the shared pieces (roles, bodies, the cart and order shapes).

A clinic token's subject is a clinic user; every service call resolves the clinic from it, so
another clinic's cart, quickfill, patient or order answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints
from starlette.routing import Route

from api import models as m
from api.clinic.words import problem_words
from api.endpoint import Call, Handler, endpoint
from api.problems import Problem
from api.routes_catalog import ERRORS
from domain.clinic.cart import CartLine, CartValidated, LineProblem, Merge
from domain.clinic.checkout import order_name
from domain.orders import Order
from domain.status import order_status
from service.clinic.cart import CartView

CLINIC = ("clinic",)
Sig = Annotated[str, StringConstraints(max_length=1000)]  # over 140 is a validation problem, not a 422
Qty = Annotated[int, Field(ge=1, le=10_000)]


class LineIn(m.Strict):
    patient_id: m.Id
    product_id: m.Id
    quantity: Qty
    pharmacy_id: m.Id
    sig: Sig
    prescriber_id: m.Id


class LinePatch(m.Strict):
    quantity: Qty | None = None
    pharmacy_id: m.Id | None = None
    sig: Sig | None = None
    prescriber_id: m.Id | None = None


class ProblemOut(BaseModel):
    line_id: str | None
    code: str
    detail: str
    # The line's names, so a person can find it (None for a cart-wide problem or an unknown id).
    patient_name: str | None = None
    product_name: str | None = None
    pharmacy_name: str | None = None
    prescriber_name: str | None = None


class ValidationOut(BaseModel):
    ok: bool
    problems: list[ProblemOut]
    line_count: int
    total_cents: int


class CartLineOut(BaseModel):
    line_id: str
    patient_id: str
    product_id: str
    quantity: int
    pharmacy_id: str
    sig: str
    prescriber_id: str
    origin: str
    patient_name: str | None
    product_name: str | None
    pharmacy_name: str | None
    prescriber_name: str | None
    prescriber_npi: str | None
    strength: str | None
    vial_price_cents: int | None
    fee_cents: int | None
    shipping_share_cents: int | None
    landed_unit_cents: int | None
    line_total_cents: int | None


class MergeOut(BaseModel):
    """A line added for a patient and product already in the cart went into that line instead."""

    line_id: str
    quantity_before: int
    quantity_after: int
    pharmacy_changed: bool
    pharmacy_before: str
    pharmacy_after: str
    sig_changed: bool
    prescriber_changed: bool
    detail: str


class CartOut(BaseModel):
    id: str
    clinic_id: str
    status: Literal["open", "checked_out"]
    lines: list[CartLineOut]
    merges: list[MergeOut] = []
    total_cents: int
    currency: str
    last_validation: ValidationOut | None
    invoice_id: str | None
    order_ids: list[str]


class TrackingOut(BaseModel):
    """What the pharmacy said last: accepted, shipped (carrier, tracking number) or its rejection."""

    pharmacy_status: Literal[
        "not_sent", "sent", "accepted", "processing", "shipped", "delivered", "rejected", "submission_failed"
    ]
    carrier: str | None
    tracking_number: str | None
    rejection_reason: str | None
    submission_error: str | None


class ClinicOrderOut(BaseModel):
    id: str
    number: str
    status: str
    patient_id: str
    source: str
    source_context: str
    product_id: str
    name: str
    quantity: int
    unit_price_cents: int  # vial price + fees
    shipping_cents: int  # this line's share of its shipment's fee
    total_cents: int  # what the clinic paid for this line
    pharmacy_id: str | None
    sig: str | None
    prescriber_id: str | None
    invoice_id: str
    cart_id: str | None
    placed_at: str
    refunded: bool
    tracking: TrackingOut


class CheckoutIn(m.Strict):
    payment_method_id: m.Id


class CheckoutOut(BaseModel):
    orders: list[ClinicOrderOut]
    invoice: m.InvoiceOut
    payment: m.PaymentOut | None
    created: bool


class InvalidCartProblem(Problem):
    """422 at checkout: the cart's validation problems, or (empty list) a malformed request."""

    problems: list[ProblemOut] = []


class DeclinedCheckoutProblem(Problem):
    orders: list[ClinicOrderOut]
    invoice: m.InvoiceOut
    payment: m.PaymentOut


def problems_out(problems: tuple[LineProblem, ...], view: CartView | None = None) -> list[ProblemOut]:
    found = []
    for p in problems:
        line = view.cart.lines.get(p.line_id) if view is not None and p.line_id else None
        names = line_names(view, line) if view is not None and line is not None else {}
        found.append(
            ProblemOut(
                line_id=p.line_id,
                code=p.code,
                detail=problem_words(p),
                patient_name=names.get("patient_name"),
                product_name=names.get("product_name"),
                pharmacy_name=names.get("pharmacy_name"),
                prescriber_name=names.get("prescriber_name"),
            )
        )
    return found


def validation_out(v: CartValidated, view: CartView | None = None) -> ValidationOut:
    return ValidationOut(
        ok=v.ok, problems=problems_out(v.problems, view), line_count=v.line_count, total_cents=v.total_cents
    )


def line_names(view: CartView, ln: CartLine) -> dict[str, str | None]:
    world = view.world
    product = world.products.get(ln.product_id)
    pharmacy = world.pharmacies.get(ln.pharmacy_id)
    prescriber = world.prescribers.get(ln.prescriber_id)
    offering = pharmacy.offering(ln.product_id) if pharmacy else None
    return {
        "patient_name": world.patient_names.get(ln.patient_id),
        "product_name": order_name(product, offering.strength) if product and offering else None,
        "pharmacy_name": pharmacy.name if pharmacy else None,
        "prescriber_name": prescriber.name if prescriber else None,
        "prescriber_npi": prescriber.npi if prescriber else None,
        "strength": offering.strength if offering else None,
    }


def merge_out(view: CartView, merge: Merge) -> MergeOut:
    def name(pharmacy_id: str) -> str:
        found = view.world.pharmacies.get(pharmacy_id)
        return found.name if found else pharmacy_id

    words = [f"merged into line {merge.line_id}, quantity {merge.quantity_before} → {merge.quantity_after}"]
    if merge.pharmacy_changed:
        words.append(f"pharmacy changed from {name(merge.pharmacy_before)} to {name(merge.pharmacy_after)}")
    if merge.sig_changed:
        words.append("SIG replaced")
    if merge.prescriber_changed:
        words.append("prescriber changed")
    return MergeOut(
        line_id=merge.line_id,
        quantity_before=merge.quantity_before,
        quantity_after=merge.quantity_after,
        pharmacy_changed=merge.pharmacy_changed,
        pharmacy_before=merge.pharmacy_before,
        pharmacy_after=merge.pharmacy_after,
        sig_changed=merge.sig_changed,
        prescriber_changed=merge.prescriber_changed,
        detail=", ".join(words) + ".",
    )


def cart_out(view: CartView) -> CartOut:
    cart, lines = view.cart, []
    for ln in cart.lines.values():
        cost = view.prices.get(ln.id)
        lines.append(
            CartLineOut(
                line_id=ln.id,
                patient_id=ln.patient_id,
                product_id=ln.product_id,
                quantity=ln.quantity,
                pharmacy_id=ln.pharmacy_id,
                sig=ln.sig,
                prescriber_id=ln.prescriber_id,
                origin=ln.origin,
                **line_names(view, ln),
                vial_price_cents=cost.vial_price_cents if cost else None,
                fee_cents=cost.fee_cents if cost else None,
                shipping_share_cents=cost.shipping_share_cents if cost else None,
                landed_unit_cents=cost.landed_unit_cents if cost else None,
                line_total_cents=cost.line_total_cents if cost else None,
            )
        )
    done = cart.checked_out
    return CartOut(
        id=cart.id,
        clinic_id=cart.clinic_id,
        status="checked_out" if done else "open",
        lines=lines,
        merges=[merge_out(view, mg) for mg in view.merges],
        total_cents=done.total_cents if done else view.total_cents,
        currency=view.currency,
        last_validation=validation_out(cart.last_validation, view) if cart.last_validation else None,
        invoice_id=done.invoice_id if done else None,
        order_ids=list(done.order_ids) if done else [],
    )


def tracking_out(o: Order) -> TrackingOut:
    state: Any = "not_sent"
    for reached, name in (
        (o.pharmacy_error is not None, "submission_failed"),
        (o.pharmacy_submitted, "sent"),
        (o.accepted, "accepted"),
        (o.processing, "processing"),
        (o.shipped, "shipped"),
        (o.delivered, "delivered"),
        (o.pharmacy_rejected_reason is not None, "rejected"),
    ):
        if reached:
            state = name
    return TrackingOut(
        pharmacy_status=state,
        carrier=o.carrier,
        tracking_number=o.tracking,
        rejection_reason=o.pharmacy_rejected_reason,
        submission_error=o.pharmacy_error,
    )


def clinic_order_out(o: Order) -> ClinicOrderOut:
    ln = o.placed.lines[0]  # a clinic order holds exactly one cart line
    return ClinicOrderOut(
        id=o.id,
        number=o.number,
        status=order_status(o),
        patient_id=o.patient_id,
        source=o.placed.source,
        source_context=o.placed.source_context,
        product_id=ln.product_id,
        name=ln.name,
        quantity=ln.quantity,
        unit_price_cents=ln.unit_price_cents,
        shipping_cents=ln.shipping_cents,
        total_cents=ln.total_cents,
        pharmacy_id=ln.pharmacy_id,
        sig=ln.sig,
        prescriber_id=ln.prescriber_id,
        invoice_id=o.placed.invoice_id,
        cart_id=o.placed.cart_id,
        placed_at=o.placed.placed_at.isoformat(),
        refunded=o.refunded,
        tracking=tracking_out(o),
    )


def clinic_route(
    method: str,
    path: str,
    summary: str,
    answer: type[BaseModel],
    *,
    status: int = 200,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
) -> Callable[[Handler], Route]:
    """A route for a clinic's own users, alike in all but its path, input and answer: `clinic` tokens
    only (scoped to the user's clinic), `answer` on success, the common problems otherwise."""
    return endpoint(
        method,
        path,
        summary=summary,
        roles=CLINIC,
        tag="clinic",
        body=body,
        query=query,
        responses={status: answer, **ERRORS},
    )


def user_of(call: Call) -> str:
    assert call.principal.subject is not None  # auth guarantees a clinic token names its user
    return call.principal.subject
