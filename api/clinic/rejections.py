"""A rejected paid line, the clinic's way out: fix and resubmit it, or refund that line alone."""

from __future__ import annotations

from api import models as m
from api.clinic.models import ClinicOrderOut, Sig, clinic_order_out, clinic_route, user_of
from api.endpoint import Call, Reply
from service.clinic import rejections


class ResubmitIn(m.ReasonIn):
    sig: Sig | None = None  # the fixed SIG, when that was the pharmacy's complaint
    prescriber_id: m.Id | None = None  # another of the clinic's prescribers


@clinic_route(
    "POST",
    "/clinic/orders/{order_id}/resubmit",
    "Fix a rejected paid line (SIG, prescriber) and send it to its pharmacy again",
    ClinicOrderOut,
    status=202,
    body=ResubmitIn,
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


@clinic_route(
    "POST",
    "/clinic/orders/{order_id}/refund",
    "Refund a rejected paid line alone (a partial refund of the cart's invoice)",
    ClinicOrderOut,
    body=m.ReasonIn,
)
def refund_line(call: Call) -> Reply:
    order = rejections.refund_rejected_line(
        call.runtime.deps, call.ctx(), user_of(call), call.path("order_id"), call.body.reason
    )
    return Reply(200, clinic_order_out(order))


routes = [resubmit_line, refund_line]
