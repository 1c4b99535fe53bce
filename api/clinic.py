"""Clinic ordering over HTTP (API.md "Clinic ordering"): the clinic role's cart, and staff set-up.

A clinic token's subject is a clinic user; every service call resolves the clinic from it, so
another clinic's cart, quickfill, patient or order answers 404. Directory set-up (clinics, users,
prescribers, roster, pharmacies and their catalog/stock) is under /clinic/admin/ for staff/service.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api import models as m
from api.endpoint import Call, Reply, endpoint
from api.problems import ApiError, Problem
from api.routes_catalog import ERRORS
from api.views import invoice_out, payment_out
from domain.clinic.cart import CartValidated, LineDraft, LineProblem
from domain.clinic.validation import CartNotValid
from domain.orders import Order
from domain.status import order_status
from service import clinic
from service.clinic import CartView, CheckoutResult

CLINIC = ("clinic",)
ADMIN = ("staff", "service")
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
    problems: list[ProblemOut]


class DeclinedCheckoutProblem(Problem):
    orders: list[ClinicOrderOut]
    invoice: m.InvoiceOut
    payment: m.PaymentOut


class QuickfillIn(m.Strict):
    name: m.Text
    product_id: m.Id
    quantity: Qty
    pharmacy_id: m.Id
    sig: Sig
    prescriber_id: m.Id


class QuickfillOut(QuickfillIn):
    id: str


class ApplyQuickfillIn(m.Strict):
    patient_ids: Annotated[list[m.Id], Field(min_length=1, max_length=1000)]


class OptionsQuery(m.Strict):
    product_id: m.Id
    patient_id: m.Id | None = None
    by: Literal["cost", "turnaround"] = "cost"
    quantity: Qty = 1


class OptionOut(BaseModel):
    pharmacy_id: str
    name: str
    strength: str
    on_hand: int
    turnaround_days: int
    landed_unit_cents: int
    line_total_cents: int


class OptionsOut(BaseModel):
    by: str
    options: list[OptionOut]


def _problems(problems: tuple[LineProblem, ...]) -> list[ProblemOut]:
    return [ProblemOut(line_id=p.line_id, code=p.code, detail=p.detail) for p in problems]


def _validation(v: CartValidated) -> ValidationOut:
    return ValidationOut(
        ok=v.ok, problems=_problems(v.problems), line_count=v.line_count, total_cents=v.total_cents
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
        last_validation=_validation(cart.last_validation) if cart.last_validation else None,
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


def _user(call: Call) -> str:
    assert call.principal.subject is not None  # auth guarantees a clinic token names its user
    return call.principal.subject


@endpoint(
    "POST",
    "/clinic/carts",
    summary="Open a cart for the caller's clinic",
    roles=CLINIC,
    tag="clinic",
    responses={201: CartOut, **ERRORS},
)
def open_cart(call: Call) -> Reply:
    return Reply(201, cart_out(clinic.open_cart(call.runtime.deps, call.ctx(), _user(call))))


@endpoint(
    "GET",
    "/clinic/carts/{cart_id}",
    summary="A cart with landed per-vial cost on every line",
    roles=CLINIC,
    tag="clinic",
    responses={200: CartOut, **ERRORS},
)
def get_cart(call: Call) -> Reply:
    return Reply(
        200, cart_out(clinic.get_cart(call.runtime.deps, call.ctx(), _user(call), call.path("cart_id")))
    )


@endpoint(
    "POST",
    "/clinic/carts/{cart_id}/lines",
    summary="Add a line (same patient and product merges)",
    roles=CLINIC,
    tag="clinic",
    body=LineIn,
    responses={201: CartOut, **ERRORS},
)
def add_line(call: Call) -> Reply:
    b: LineIn = call.body
    deps, ctx, user, cart_id = call.runtime.deps, call.ctx(), _user(call), call.path("cart_id")
    clinic.add_lines(
        deps,
        ctx,
        user,
        cart_id,
        [LineDraft(b.patient_id, b.product_id, b.quantity, b.pharmacy_id, b.sig, b.prescriber_id)],
    )
    return Reply(201, cart_out(clinic.get_cart(deps, ctx, user, cart_id)))


@endpoint(
    "PATCH",
    "/clinic/carts/{cart_id}/lines/{line_id}",
    summary="Change a line's quantity, pharmacy, SIG or prescriber",
    roles=CLINIC,
    tag="clinic",
    body=LinePatch,
    responses={200: CartOut, **ERRORS},
)
def patch_line(call: Call) -> Reply:
    b: LinePatch = call.body
    view = clinic.change_line(
        call.runtime.deps,
        call.ctx(),
        _user(call),
        call.path("cart_id"),
        call.path("line_id"),
        quantity=b.quantity,
        pharmacy_id=b.pharmacy_id,
        sig=b.sig,
        prescriber_id=b.prescriber_id,
    )
    return Reply(200, cart_out(view))


@endpoint(
    "DELETE",
    "/clinic/carts/{cart_id}/lines/{line_id}",
    summary="Remove a line",
    roles=CLINIC,
    tag="clinic",
    responses={200: CartOut, **ERRORS},
)
def delete_line(call: Call) -> Reply:
    view = clinic.remove_line(
        call.runtime.deps, call.ctx(), _user(call), call.path("cart_id"), call.path("line_id")
    )
    return Reply(200, cart_out(view))


@endpoint(
    "POST",
    "/clinic/carts/{cart_id}/validate",
    summary="Validate the whole cart: every problem, per line",
    roles=CLINIC,
    tag="clinic",
    responses={200: ValidationOut, **ERRORS},
)
def validate_cart(call: Call) -> Reply:
    return Reply(
        200, _validation(clinic.validate(call.runtime.deps, call.ctx(), _user(call), call.path("cart_id")))
    )


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
            _user(call),
            call.path("cart_id"),
            call.body.payment_method_id,
            call.header("idempotency-key"),
        )
    except CartNotValid as exc:
        raise ApiError(
            422,
            "Cart not valid",
            exc.detail,
            reasons=exc.reasons,
            extra={"problems": [p.model_dump() for p in _problems(exc.problems)]},
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


@endpoint(
    "POST",
    "/clinic/quickfills",
    summary="Save a line template",
    roles=CLINIC,
    tag="clinic",
    body=QuickfillIn,
    responses={201: QuickfillOut, **ERRORS},
)
def save_quickfill(call: Call) -> Reply:
    b: QuickfillIn = call.body
    q = clinic.save_quickfill(call.runtime.deps, call.ctx(), _user(call), **b.model_dump())
    return Reply(
        201,
        QuickfillOut(
            id=q.id,
            name=q.name,
            product_id=q.product_id,
            quantity=q.quantity,
            pharmacy_id=q.pharmacy_id,
            sig=q.sig,
            prescriber_id=q.prescriber_id,
        ),
    )


@endpoint(
    "POST",
    "/clinic/carts/{cart_id}/quickfills/{quickfill_id}",
    summary="Add a quickfill for patients",
    roles=CLINIC,
    tag="clinic",
    body=ApplyQuickfillIn,
    responses={200: CartOut, **ERRORS},
)
def apply_quickfill(call: Call) -> Reply:
    view = clinic.apply_quickfill(
        call.runtime.deps,
        call.ctx(),
        _user(call),
        call.path("cart_id"),
        call.path("quickfill_id"),
        list(call.body.patient_ids),
    )
    return Reply(200, cart_out(view))


@endpoint(
    "POST",
    "/clinic/carts/{cart_id}/reorder/{order_id}",
    summary="Put a past order's line into the cart",
    roles=CLINIC,
    tag="clinic",
    responses={200: CartOut, **ERRORS},
)
def reorder(call: Call) -> Reply:
    view = clinic.reorder(
        call.runtime.deps, call.ctx(), _user(call), call.path("cart_id"), call.path("order_id")
    )
    return Reply(200, cart_out(view))


@endpoint(
    "GET",
    "/clinic/pharmacy-options",
    summary="Pharmacies that can fill a line, by cost or turnaround",
    roles=CLINIC,
    tag="clinic",
    query=OptionsQuery,
    responses={200: OptionsOut, **ERRORS},
)
def pharmacy_options(call: Call) -> Reply:
    q: OptionsQuery = call.query
    found = clinic.pharmacy_options(
        call.runtime.deps, call.ctx(), _user(call), q.product_id, q.patient_id, q.by, q.quantity
    )
    return Reply(
        200,
        OptionsOut(
            by=q.by,
            options=[
                OptionOut(
                    pharmacy_id=o.pharmacy.id,
                    name=o.pharmacy.name,
                    strength=o.offering.strength,
                    on_hand=o.offering.on_hand,
                    turnaround_days=o.offering.turnaround_days,
                    landed_unit_cents=o.landed.landed_unit_cents,
                    line_total_cents=o.landed.line_total_cents,
                )
                for o in found
            ],
        ),
    )


@endpoint(
    "POST",
    "/clinic/payment-methods",
    summary="Save a card for the caller's clinic",
    roles=CLINIC,
    tag="clinic",
    body=m.PaymentMethodIn,
    responses={201: m.Created, **ERRORS},
)
def save_payment_method(call: Call) -> Reply:
    b: m.PaymentMethodIn = call.body
    deps, ctx = call.runtime.deps, call.ctx()
    home = clinic.clinic_of(deps, ctx, _user(call))
    _, method_id = clinic.save_clinic_payment_method(
        deps, ctx, home.id, gateway=b.gateway, token=b.token, label=b.label
    )
    return Reply(201, m.Created(id=method_id))


# -- directory set-up (staff / service) ------------------------------------------------------------


class NameIn(m.Strict):
    name: m.Text


class ClinicUserIn(m.Strict):
    name: m.Text
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]


class PrescriberIn(m.Strict):
    name: m.Text
    npi: Annotated[str, StringConstraints(pattern=r"^\d{10}$")]
    licensed_states: Annotated[list[m.StateCode], Field(max_length=60)]


class EnrollIn(m.Strict):
    patient_id: m.Id


class PharmacyIn(m.Strict):
    name: m.Text
    partner: m.Text
    licensed_states: Annotated[list[m.StateCode], Field(max_length=60)]
    shipping_cents: m.Cents
    currency: m.Currency = "usd"


class OfferingIn(m.Strict):
    product_id: m.Id
    strength: m.Text
    vial_price_cents: m.Cents
    fee_cents: m.Cents
    turnaround_days: Annotated[int, Field(ge=0, le=365)]
    active: bool = True
    on_hand: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


@endpoint(
    "POST",
    "/clinic/admin/clinics",
    summary="Register a clinic",
    roles=ADMIN,
    tag="clinic-admin",
    body=NameIn,
    responses={201: m.Created, **ERRORS},
)
def register_clinic(call: Call) -> Reply:
    return Reply(201, m.Created(id=clinic.register_clinic(call.runtime.deps, call.ctx(), call.body.name).id))


@endpoint(
    "POST",
    "/clinic/admin/clinics/{clinic_id}/users",
    summary="Register a clinic user",
    roles=ADMIN,
    tag="clinic-admin",
    body=ClinicUserIn,
    responses={201: m.Created, **ERRORS},
)
def register_user(call: Call) -> Reply:
    user = clinic.register_clinic_user(
        call.runtime.deps, call.ctx(), call.path("clinic_id"), call.body.name, call.body.email
    )
    return Reply(201, m.Created(id=user.id))


@endpoint(
    "POST",
    "/clinic/admin/clinics/{clinic_id}/prescribers",
    summary="Register a prescriber (NPI, states)",
    roles=ADMIN,
    tag="clinic-admin",
    body=PrescriberIn,
    responses={201: m.Created, **ERRORS},
)
def register_prescriber(call: Call) -> Reply:
    b: PrescriberIn = call.body
    found = clinic.register_prescriber(
        call.runtime.deps, call.ctx(), call.path("clinic_id"), b.name, b.npi, list(b.licensed_states)
    )
    return Reply(201, m.Created(id=found.id))


@endpoint(
    "POST",
    "/clinic/admin/clinics/{clinic_id}/patients",
    summary="Put a patient on a clinic's roster",
    roles=ADMIN,
    tag="clinic-admin",
    body=EnrollIn,
    responses={201: m.Created, **ERRORS},
)
def enroll_patient(call: Call) -> Reply:
    clinic.enroll_patient(call.runtime.deps, call.ctx(), call.path("clinic_id"), call.body.patient_id)
    return Reply(201, m.Created(id=call.body.patient_id))


@endpoint(
    "POST",
    "/clinic/admin/pharmacies",
    summary="Register a 503A partner pharmacy",
    roles=ADMIN,
    tag="clinic-admin",
    body=PharmacyIn,
    responses={201: m.Created, **ERRORS},
)
def register_pharmacy(call: Call) -> Reply:
    b: PharmacyIn = call.body
    found = clinic.register_pharmacy(
        call.runtime.deps,
        call.ctx(),
        b.name,
        b.partner,
        list(b.licensed_states),
        b.shipping_cents,
        b.currency,
    )
    return Reply(201, m.Created(id=found.id))


@endpoint(
    "PUT",
    "/clinic/admin/pharmacies/{pharmacy_id}/offerings",
    summary="Set a product's price, fees, turnaround and stock at a pharmacy",
    roles=ADMIN,
    tag="clinic-admin",
    body=OfferingIn,
    responses={200: m.Created, **ERRORS},
)
def set_offering(call: Call) -> Reply:
    b: OfferingIn = call.body
    found = clinic.set_offering(call.runtime.deps, call.ctx(), call.path("pharmacy_id"), **b.model_dump())
    return Reply(200, m.Created(id=found.id))


routes = [
    open_cart,
    get_cart,
    add_line,
    patch_line,
    delete_line,
    validate_cart,
    checkout,
    save_quickfill,
    apply_quickfill,
    reorder,
    pharmacy_options,
    save_payment_method,
    register_clinic,
    register_user,
    register_prescriber,
    enroll_patient,
    register_pharmacy,
    set_offering,
]
