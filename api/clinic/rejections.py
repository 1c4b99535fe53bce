"""A rejected paid line, the clinic's way out: fix and resubmit it, or refund that line alone."""

from __future__ import annotations

from api import models as m
from api.clinic.models import CLINIC, ClinicOrderOut, Sig, clinic_order_out, user_of
from api.endpoint import Call, Reply, endpoint
from api.routes_catalog import ERRORS
from service.clinic import rejections


class ResubmitIn(m.ReasonIn):
    sig: Sig | None = None  # the fixed SIG, when that was the pharmacy's complaint
    prescriber_id: m.Id | None = None  # another of the clinic's prescribers


@endpoint(
    "POST",
    "/clinic/orders/{order_id}/resubmit",
    summary="Fix a rejected paid line (SIG, prescriber) and send it to its pharmacy again",
    roles=CLINIC,
    tag="clinic",
    body=ResubmitIn,
    responses={202: ClinicOrderOut, **ERRORS},
)
def resubmit_line(call: Call) -> Reply:
    b: ResubmitIn = call.body
    order = rejections.resubmit_rejected_line(
        call.runtime.deps,
        call.ctx(),
        user_of(call),
        call.path("order_id"),
        b.reason,
        frozenset(call.runtime.pharmacies),
        sig=b.sig,
        prescriber_id=b.prescriber_id,
    )
    return Reply(202, clinic_order_out(order))


@endpoint(
    "POST",
    "/clinic/orders/{order_id}/refund",
    summary="Refund a rejected paid line alone (a partial refund of the cart's invoice)",
    roles=CLINIC,
    tag="clinic",
    body=m.ReasonIn,
    responses={200: ClinicOrderOut, **ERRORS},
)
def refund_line(call: Call) -> Reply:
    order = rejections.refund_rejected_line(
        call.runtime.deps, call.ctx(), user_of(call), call.path("order_id"), call.body.reason
    )
    return Reply(200, clinic_order_out(order))


routes = [resubmit_line, refund_line]
