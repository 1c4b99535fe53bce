"""Clinic routes that fill a cart faster (quickfills, reorder, pharmacy options) and the clinic's card."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api import models as m
from api.clinic.models import CartOut, Qty, Sig, cart_out, clinic_route, user_of
from api.endpoint import Call, Reply
from domain.clinic.suggestion import Unfit
from service import catalog, clinic


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


class UnfitOut(BaseModel):
    """A partner pharmacy that cannot fill this line, and every reason why."""

    pharmacy_id: str
    name: str
    reasons: list[str]
    detail: str


class OptionsOut(BaseModel):
    by: str
    options: list[OptionOut]
    unfit: list[UnfitOut]
    detail: str | None  # when no pharmacy fits: why, in one sentence


UNFIT_WORDS = {
    "PRODUCT_NOT_AT_PHARMACY": "does not carry this product",
    "PRODUCT_INACTIVE": "no longer offers this product",
    "PHARMACY_NOT_LICENSED_IN_STATE": "is not licensed in the patient's state",
    "OUT_OF_STOCK": "has too few vials in stock",
}


def unfit_out(u: Unfit, state: str | None, quantity: int) -> UnfitOut:
    words = []
    for reason in u.reasons:
        text = UNFIT_WORDS[reason]
        if reason == "PHARMACY_NOT_LICENSED_IN_STATE" and state:
            text = f"is not licensed in {state}, the patient's state"
        if reason == "OUT_OF_STOCK" and u.offering is not None:
            text = f"has {max(u.offering.on_hand, 0)} vial(s) in stock, {quantity} needed"
        words.append(text)
    return UnfitOut(
        pharmacy_id=u.pharmacy.id,
        name=u.pharmacy.name,
        reasons=list(u.reasons),
        detail=f"{u.pharmacy.name} {' and '.join(words)}.",
    )


@clinic_route(
    "POST", "/clinic/quickfills", "Save a line template", QuickfillOut, status=201, body=QuickfillIn
)
def save_quickfill(call: Call) -> Reply:
    b: QuickfillIn = call.body
    q = clinic.save_quickfill(call.runtime.deps, call.ctx(), user_of(call), **b.model_dump())
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


@clinic_route(
    "POST",
    "/clinic/carts/{cart_id}/quickfills/{quickfill_id}",
    "Add a quickfill for patients",
    CartOut,
    body=ApplyQuickfillIn,
)
def apply_quickfill(call: Call) -> Reply:
    view = clinic.apply_quickfill(
        call.runtime.deps,
        call.ctx(),
        user_of(call),
        call.path("cart_id"),
        call.path("quickfill_id"),
        list(call.body.patient_ids),
    )
    return Reply(200, cart_out(view))


@clinic_route(
    "POST", "/clinic/carts/{cart_id}/reorder/{order_id}", "Put a past order's line into the cart", CartOut
)
def reorder(call: Call) -> Reply:
    view = clinic.reorder(
        call.runtime.deps, call.ctx(), user_of(call), call.path("cart_id"), call.path("order_id")
    )
    return Reply(200, cart_out(view))


@clinic_route(
    "GET",
    "/clinic/pharmacy-options",
    "Pharmacies that can fill a line, by cost or turnaround",
    OptionsOut,
    query=OptionsQuery,
)
def pharmacy_options(call: Call) -> Reply:
    q: OptionsQuery = call.query
    found, unfit = clinic.pharmacy_options(
        call.runtime.deps, call.ctx(), user_of(call), q.product_id, q.patient_id, q.by, q.quantity
    )
    state = catalog.get_patient(call.runtime.deps, call.ctx(), q.patient_id).state if q.patient_id else None
    unfit_views = [unfit_out(u, state, q.quantity) for u in unfit]
    none_fit = "No partner pharmacy can fill this line: " + " ".join(u.detail for u in unfit_views)
    return Reply(
        200,
        OptionsOut(
            by=q.by,
            unfit=unfit_views,
            detail=none_fit if not found else None,
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


@clinic_route(
    "POST",
    "/clinic/payment-methods",
    "Save a card for the caller's clinic",
    m.Created,
    status=201,
    body=m.PaymentMethodIn,
)
def save_payment_method(call: Call) -> Reply:
    b: m.PaymentMethodIn = call.body
    deps, ctx = call.runtime.deps, call.ctx()
    home = clinic.clinic_of(deps, ctx, user_of(call))
    _, method_id = clinic.save_clinic_payment_method(
        deps, ctx, home.id, gateway=b.gateway, token=b.token, label=b.label
    )
    return Reply(201, m.Created(id=method_id))


routes = [save_quickfill, apply_quickfill, reorder, pharmacy_options, save_payment_method]
