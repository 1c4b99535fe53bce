"""Clinic ordering over HTTP: the shared pieces (roles, bodies, the cart and order shapes).

A clinic token's subject is a clinic user; every service call resolves the clinic from it, so
another clinic's cart, quickfill, patient or order answers 404.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api import models as m
from api.endpoint import Call
from api.problems import Problem
from domain.clinic.cart import CartValidated, LineProblem
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
    vial_price_cents: int | None
    fee_cents: int | None
    shipping_share_cents: int | None
    landed_unit_cents: int | None
    line_total_cents: int | None


class CartOut(BaseModel):
    id: str
    clinic_id: str
    status: Literal["open", "checked_out"]
    lines: list[CartLineOut]
    total_cents: int
    currency: str
    last_validation: ValidationOut | None
    invoice_id: str | None
    order_ids: list[str]


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
    unit_price_cents: int
    pharmacy_id: str | None
    sig: str | None
    prescriber_id: str | None


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


def problems_out(problems: tuple[LineProblem, ...]) -> list[ProblemOut]:
    return [ProblemOut(line_id=p.line_id, code=p.code, detail=p.detail) for p in problems]


def validation_out(v: CartValidated) -> ValidationOut:
    return ValidationOut(
        ok=v.ok, problems=problems_out(v.problems), line_count=v.line_count, total_cents=v.total_cents
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
        total_cents=done.total_cents if done else view.total_cents,
        currency=view.currency,
        last_validation=validation_out(cart.last_validation) if cart.last_validation else None,
        invoice_id=done.invoice_id if done else None,
        order_ids=list(done.order_ids) if done else [],
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
        pharmacy_id=ln.pharmacy_id,
        sig=ln.sig,
        prescriber_id=ln.prescriber_id,
    )


def user_of(call: Call) -> str:
    assert call.principal.subject is not None  # auth guarantees a clinic token names its user
    return call.principal.subject
