"""Intake, lab steps and the medical-review retry (API.md, "Medical review, prescriptions, fulfillment")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from api import models as m
from api.endpoint import Call, Reply, endpoint
from api.routes_catalog import ERRORS
from api.views import order_out
from domain.orders import Order
from service import medical_review, orders

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class IntakeIn(m.Strict):
    status: Literal["submitted", "accepted", "needs_correction", "rejected"]
    note: Note | None = None


class LabStepIn(m.Strict):
    reference: Reference | None = None


def _view(call: Call, order: Order) -> Reply:
    invoice = orders.get_invoice(call.runtime.deps, call.ctx(), order.placed.invoice_id)
    return Reply(200, order_out(order, invoice))


@endpoint(
    "POST",
    "/orders/{order_id}/intake",
    summary="Record the intake's progress (submitted, accepted, …)",
    roles=("staff", "service"),
    tag="medical",
    body=IntakeIn,
    responses={200: m.OrderOut, **ERRORS},
)
def record_intake(call: Call) -> Reply:
    b: IntakeIn = call.body
    return _view(
        call,
        medical_review.record_intake(call.runtime.deps, call.ctx(), call.path("order_id"), b.status, b.note),
    )


@endpoint(
    "POST",
    "/orders/{order_id}/lab/requisition",
    summary="Record the lab requisition",
    roles=("staff", "service"),
    tag="medical",
    body=LabStepIn,
    responses={200: m.OrderOut, **ERRORS},
)
def record_requisition(call: Call) -> Reply:
    return _view(
        call,
        medical_review.record_lab(
            call.runtime.deps, call.ctx(), call.path("order_id"), "requisition", call.body.reference
        ),
    )


@endpoint(
    "POST",
    "/orders/{order_id}/lab/results",
    summary="Record that lab results arrived",
    roles=("staff", "service"),
    tag="medical",
    body=LabStepIn,
    responses={200: m.OrderOut, **ERRORS},
)
def record_results(call: Call) -> Reply:
    return _view(
        call,
        medical_review.record_lab(
            call.runtime.deps, call.ctx(), call.path("order_id"), "results", call.body.reference
        ),
    )


@endpoint(
    "POST",
    "/orders/{order_id}/medical-review/retry",
    summary="Re-send the order's visit to Beluga (same masterId) after fixing what blocked it",
    roles=("ops", "cs"),
    tag="medical",
    responses={200: m.OrderOut, **ERRORS},
)
def retry_medical_review(call: Call) -> Reply:
    beluga = call.runtime.beluga
    return _view(call, medical_review.retry(call.runtime.deps, call.ctx(), call.path("order_id"), beluga))


@endpoint(
    "POST",
    "/orders/{order_id}/medical-review/new-consult",
    summary="After Beluga canceled the consult, open a new one (new masterId) and submit it",
    roles=("ops", "cs", "staff"),
    tag="medical",
    body=m.ReasonIn,
    responses={200: m.OrderOut, **ERRORS},
)
def new_consult(call: Call) -> Reply:
    beluga = call.runtime.beluga
    order = medical_review.start_new_consult(
        call.runtime.deps, call.ctx(), call.path("order_id"), call.body.reason, beluga
    )
    return _view(call, order)


routes = [record_intake, record_requisition, record_results, retry_medical_review, new_consult]
