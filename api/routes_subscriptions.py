"""Subscriptions as people see and steer them: read one; pause, resume, skip the next cycle,
cancel, change the card. `staff` for any; a `patient` for their own (others' are not found).

Starting a subscription and billing a cycle by hand (the outside processor's way in) are in
`api.routes_orders`; the ledger bills due cycles by itself on timers.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel
from starlette.routing import Route

from api import models as m
from api.endpoint import Call, Handler, Reply, endpoint
from api.routes_catalog import ERRORS
from api.views import subscription_out
from domain.subscriptions import Subscription
from service import subscriptions
from service.deps import Deps
from service.unit import Context

OWNERS = ("staff", "patient")


def _own(call: Call) -> Subscription:
    sub = subscriptions.get_subscription(call.runtime.deps, call.ctx(), call.path("subscription_id"))
    call.only_own(sub.started.patient_id, "subscription")
    return sub


@endpoint(
    "GET",
    "/subscriptions/{subscription_id}",
    summary="A subscription: state, next cycle date, dunning attempts with gateway messages",
    roles=("staff", "cs", "patient"),
    tag="subscriptions",
    responses={200: m.SubscriptionOut, **ERRORS},
)
def get_subscription(call: Call) -> Reply:
    return Reply(200, subscription_out(_own(call)))


def _steer(path: str, summary: str, *, body: type[BaseModel] | None = None) -> Callable[[Handler], Route]:
    """Every way to steer a subscription alike: staff for any, a patient for their own; it answers
    with the subscription as it now stands."""
    return endpoint(
        "POST",
        path,
        summary=summary,
        roles=OWNERS,
        tag="subscriptions",
        body=body,
        responses={200: m.SubscriptionOut, **ERRORS},
    )


def _change(call: Call, act: Callable[[Deps, Context, str], Subscription]) -> Reply:
    sub = _own(call)
    return Reply(200, subscription_out(act(call.runtime.deps, call.ctx(), sub.id)))


@_steer("/subscriptions/{subscription_id}/pause", "Pause: due cycles are not billed until resumed")
def pause_subscription(call: Call) -> Reply:
    return _change(call, subscriptions.pause)


@_steer("/subscriptions/{subscription_id}/resume", "Resume a paused subscription on its original schedule")
def resume_subscription(call: Call) -> Reply:
    return _change(call, subscriptions.resume)


@_steer(
    "/subscriptions/{subscription_id}/skip-next",
    "Skip the next cycle (it is not billed; the one after keeps its date)",
)
def skip_next_cycle(call: Call) -> Reply:
    return _change(call, subscriptions.skip_next)


@_steer(
    "/subscriptions/{subscription_id}/cancel",
    "Cancel: no further cycle is billed and pending retries stop",
    body=m.SubscriptionCancelIn,
)
def cancel_subscription(call: Call) -> Reply:
    reason: str = call.body.reason
    return _change(
        call, lambda deps, ctx, sub_id: subscriptions.cancel_subscription(deps, ctx, sub_id, reason)
    )


@_steer(
    "/subscriptions/{subscription_id}/payment-method",
    "Change the card later cycles and dunning retries charge",
    body=m.SubscriptionMethodIn,
)
def change_subscription_card(call: Call) -> Reply:
    method: str = call.body.payment_method_id
    return _change(
        call, lambda deps, ctx, sub_id: subscriptions.change_payment_method(deps, ctx, sub_id, method)
    )


routes = [
    get_subscription,
    pause_subscription,
    resume_subscription,
    skip_next_cycle,
    cancel_subscription,
    change_subscription_card,
]
