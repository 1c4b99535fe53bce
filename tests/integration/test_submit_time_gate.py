"""The submitter decides at the moment it submits; a close after submission asks the pharmacy to
cancel (issue 10, defect 1). Real store, real pharmacy sandbox over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.pharmacy import PharmacyCancellation, PharmacyClient, PharmacyOrder, PharmacySubmission
from domain import gate
from domain.orders import Order
from domain.pharmacy_cancellation import pharmacy_cancellation
from domain.status import order_status
from service import orders
from service.unit import load
from tests.integration.test_fulfillment import World, make_world


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


def _active_at_pharmacy(w: World) -> list[str]:
    return [o["referenceId"] for o in w.at_pharmacy() if o["status"] != "canceled"]


def test_a_refund_after_release_while_the_pharmacy_is_down_is_never_submitted(world: World) -> None:
    order_id = world.refill()
    world.rx(order_id, "med-sema")
    httpx.post(world.pharmacy.url + "/_sandbox/fail-next", json={"status": 503, "times": 2})
    world.settle()  # released; the pharmacy answers 503: the submission waits
    assert _order(world, order_id).fulfillment_released
    orders.refund_order(world.runtime.deps, world.staff, order_id, "patient changed their mind")
    world.settle()
    world.later(timedelta(minutes=1))  # the dead-lettered submission is retried once its wait is over
    world.settle()

    order = _order(world, order_id)
    assert order_status(order) == "REFUNDED"
    assert not order.pharmacy_submitted
    assert gate.ORDER_OPEN in order.withheld_by
    assert "PharmacySubmissionWithheld" in world.types(order_id)
    assert world.at_pharmacy() == []  # never sent, so nothing to cancel either
    assert pharmacy_cancellation(order) is None


class RefundDuringCall:
    """The real LifeFile client; while its call is in flight the order is refunded (a staff member
    clicking at that moment), so the submitter's record meets a changed order."""

    def __init__(self, inner: PharmacyClient, world: World) -> None:
        self.inner, self.world, self.partner = inner, world, inner.partner

    def submit_order(self, order: PharmacyOrder) -> PharmacySubmission:
        submission = self.inner.submit_order(order)
        orders.refund_order(self.world.runtime.deps, self.world.staff, order.order_id, "refunded mid-call")
        return submission

    def cancel_order(self, order_id: str) -> PharmacyCancellation:
        return self.inner.cancel_order(order_id)


def test_a_refund_during_the_pharmacy_call_is_seen_and_the_pharmacy_asked_to_cancel(world: World) -> None:
    policies = world.runtime.policies
    policies.pharmacies = {"belmar": RefundDuringCall(policies.pharmacies["belmar"], world)}
    order_id = world.refill()
    world.rx(order_id, "med-sema")
    world.settle()
    world.settle()

    order = _order(world, order_id)
    assert order_status(order) == "REFUNDED"
    types = world.types(order_id)
    assert types.count("PharmacyOrderSubmitted") == 1  # it did reach the pharmacy: recorded once
    assert types.count("PharmacyCancellationRequested") == 1
    [at] = world.at_pharmacy()
    assert (at["referenceId"], at["status"], at["submissions"]) == (order_id, "canceled", 1)
    condition = pharmacy_cancellation(order)
    assert condition is not None
    assert (condition.closed_as, condition.state, condition.escalate) == ("REFUNDED", "requested", True)
    assert _active_at_pharmacy(world) == []


def test_a_refund_after_shipping_records_the_refused_cancellation_for_a_person(world: World) -> None:
    order_id = world.refill()
    world.rx(order_id, "med-sema")
    world.settle()
    assert _order(world, order_id).pharmacy_submitted
    httpx.post(f"{world.pharmacy.url}/_sandbox/orders/{order_id}/status/shipped", json={})
    orders.refund_order(world.runtime.deps, world.staff, order_id, "arrived damaged")
    world.settle()
    world.settle()

    order = _order(world, order_id)
    condition = pharmacy_cancellation(order)
    assert condition is not None
    assert condition.state == "failed"
    assert condition.error is not None and "TOO_LATE" in condition.error
    assert world.types(order_id).count("PharmacyCancellationFailed") == 1  # asked once, not in a loop
