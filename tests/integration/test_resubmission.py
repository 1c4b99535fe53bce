"""Resubmission to a pharmacy (issue 10, defect 5): a pharmacy 4xx or rejection no longer strands a
paid order. Staff or ops resubmit under a new attempt key, the gate is asked again, the request is
audited, news about the replaced attempt is never applied, and an unknown outcome is never resent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from adapters.pharmacy import PharmacyWebhook
from domain import gate
from domain.errors import Conflict
from domain.events import Actor
from domain.explain import blockers
from domain.orders import FulfillmentResubmitted, Order
from domain.status import order_status
from service import catalog, orders, webhooks
from service.resubmission import resubmit_to_pharmacy
from service.unit import Context, load
from tests.integration.test_fulfillment import World, make_world
from tests.support.vendors import ORG

AT = datetime.fromisoformat("2025-01-03T00:00:00+00:00")
OPS = Context(Actor(kind="ops", id="ops-7"), ORG, "c-ops", "c-ops")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    w = make_world(tmp_path, url)
    yield w
    w.pharmacy.stop()
    for hook in reversed(w.runtime.on_shutdown):
        hook()


def _order(w: World, order_id: str) -> Order:
    state: Order = load(w.runtime.deps.store, "order", order_id).state
    return state


def _partners(w: World) -> frozenset[str]:
    return frozenset(w.runtime.pharmacies)


def _pharmacy(w: World, order_ref: str, status: str, event_id: str, reason: str | None = None) -> str:
    return webhooks.apply_pharmacy(
        w.runtime.deps,
        "belmar",
        PharmacyWebhook(event_id, order_ref, "LF-1", status, AT, reason, None, None),
    )


def _released_and_submitted(w: World) -> str:
    order_id = w.refill()
    w.rx(order_id, "med-sema")
    w.settle()
    assert _order(w, order_id).pharmacy_submitted
    return order_id


def test_a_pharmacy_4xx_can_be_resubmitted_under_a_new_key_once_the_cause_is_fixed(world: World) -> None:
    order_id = world.refill()
    world.rx(order_id, "med-sema")
    httpx.post(
        world.pharmacy.url + "/_sandbox/fail-next",
        json={"status": 422, "code": "INVALID_NPI", "message": "prescriber NPI unknown"},
    )
    world.settle()
    order = _order(world, order_id)
    assert not order.pharmacy_submitted and order.pharmacy_error_permanent
    assert "INVALID_NPI" in (order.pharmacy_error or "")
    (blocker,) = blockers(order, None)
    assert (blocker.code, blocker.action) == ("PHARMACY_SUBMISSION_FAILED", "RESUBMIT_TO_PHARMACY")
    assert world.at_pharmacy() == []

    resubmitted = resubmit_to_pharmacy(world.runtime.deps, OPS, order_id, "NPI corrected", _partners(world))
    assert resubmitted.pharmacy_attempt == 2 and resubmitted.pharmacy_error is None
    world.settle()
    order = _order(world, order_id)
    assert order.pharmacy_submitted
    assert [(o["referenceId"], o["submissions"]) for o in world.at_pharmacy()] == [(f"{order_id}.2", 1)]
    assert order.previous_pharmacy_problems == (
        "The pharmacy refused the order: INVALID_NPI: prescriber NPI unknown",
    )
    # Audited: who asked and why is a fact on the order, with the actor in its metadata.
    (event,) = [
        e for e in world.runtime.deps.store.stream(UUID(order_id)) if e.type == "FulfillmentResubmitted"
    ]
    assert isinstance(event.fact, FulfillmentResubmitted)
    assert (event.fact.reason, event.fact.requested_by, event.meta.actor.label()) == (
        "NPI corrected",
        "ops:ops-7",
        "ops:ops-7",
    )
    world.settle()  # the worker reading the same notifications again sends nothing twice
    assert world.at_pharmacy()[0]["submissions"] == 1


def test_a_rejected_paid_order_is_resubmitted_and_news_of_the_old_attempt_is_ignored(world: World) -> None:
    order_id = _released_and_submitted(world)
    assert _pharmacy(world, order_id, "rejected", "p-1", "out of stock") == "applied"
    order = _order(world, order_id)
    assert order_status(order) == "REJECTED"
    assert [b.code for b in blockers(order, None)] == ["PHARMACY_REJECTED"]
    assert blockers(order, None)[0].detail == "out of stock"

    resubmit_to_pharmacy(world.runtime.deps, OPS, order_id, "restocked", _partners(world))
    assert order_status(_order(world, order_id)) == "AWAITING_FULFILLMENT"
    world.settle()
    refs = sorted((o["referenceId"], o["submissions"]) for o in world.at_pharmacy())
    assert refs == [(order_id, 1), (f"{order_id}.2", 1)]
    # A late acceptance of the rejected first attempt is not news about the second.
    assert _pharmacy(world, order_id, "accepted", "p-2") == "ignored"
    assert order_status(_order(world, order_id)) == "AWAITING_FULFILLMENT"
    assert _pharmacy(world, f"{order_id}.2", "accepted", "p-3") == "applied"
    order = _order(world, order_id)
    assert order_status(order) == "PROCESSING"
    assert order.previous_pharmacy_problems == ("rejected: out of stock",)


def test_resubmission_is_refused_while_the_pharmacy_may_hold_the_order_or_once_closed(world: World) -> None:
    deps = world.runtime.deps
    at_pharmacy = _released_and_submitted(world)
    with pytest.raises(Conflict) as refused:
        resubmit_to_pharmacy(deps, OPS, at_pharmacy, "just because", _partners(world))
    assert refused.value.reasons == ("NOTHING_TO_RESUBMIT",)

    # An outage leaves the outcome unknown: only the same key may be retried, never a new one.
    unknown = world.refill("k2")
    world.rx(unknown, "med-sema", event_id="evt-rx-2")
    httpx.post(world.pharmacy.url + "/_sandbox/fail-next", json={"status": 503, "times": 50})
    world.settle()
    assert _order(world, unknown).pharmacy_error is not None
    assert [b.code for b in blockers(_order(world, unknown), None)] == ["POLICY_STEP_FAILED"]
    with pytest.raises(Conflict) as refused:
        resubmit_to_pharmacy(deps, OPS, unknown, "impatient", _partners(world))
    assert refused.value.reasons == ("NOTHING_TO_RESUBMIT",)

    # Rejected, then refunded: closed.
    _pharmacy(world, at_pharmacy, "rejected", "p-9", "expired")
    orders.refund_order(deps, world.staff, at_pharmacy, "patient asked")
    with pytest.raises(Conflict) as refused:
        resubmit_to_pharmacy(deps, OPS, at_pharmacy, "too late", _partners(world))
    assert refused.value.reasons == ("ORDER_CLOSED",)
    assert "FulfillmentResubmitted" not in world.types(at_pharmacy)


def test_the_gate_is_asked_again_before_a_resubmission(world: World) -> None:
    order_id = _released_and_submitted(world)
    _pharmacy(world, order_id, "rejected", "p-1", "unknown product code")
    # The product lost its pharmacy mapping meanwhile: the gate holds, nothing is recorded.
    catalog.change_product(world.runtime.deps, world.staff, world.product_id, {"pharmacy": None})
    with pytest.raises(Conflict) as refused:
        resubmit_to_pharmacy(world.runtime.deps, OPS, order_id, "retry", _partners(world))
    assert gate.PHARMACY_CONFIGURED in refused.value.reasons
    assert "FulfillmentResubmitted" not in world.types(order_id)
    assert order_status(_order(world, order_id)) == "REJECTED"
