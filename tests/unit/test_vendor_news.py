"""Vendor news ordered by the vendors' own `occurredAt` (issue 10, defect 4).

The property: for any realistic Beluga and pharmacy timeline, delivering its webhooks in any order
and any number of times ends in the same order state as delivering them once, in order — and the
status never moves backwards on the way. Each delivery goes through what the webhook service does:
skip a vendor event id already seen, else record `vendor_fact_to_record` and fold it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hypothesis import given as hypothesis_given
from hypothesis import settings
from hypothesis import strategies as st

from domain.events import Fact
from domain.orders import (
    ConsultCanceled,
    ConsultConcluded,
    FulfillmentReleased,
    MedicalReviewSubmitted,
    Order,
    OrderDelivered,
    OrderShipped,
    PharmacyOrderAccepted,
    PharmacyOrderProcessing,
    PharmacyOrderRejected,
    PharmacyOrderSubmitted,
    RxWritten,
    VendorFactStale,
    evolve_order,
)
from domain.status import order_status
from domain.vendor_news import vendor_fact_to_record
from tests.unit.given import at, charged, line, order, placed, product

MASTER = "mr-o1"
# Forward progress first; REJECTED sits below a shipment: a pharmacy cannot reject what it shipped.
RANK = {
    "AWAITING_SCRIPT": 0,
    "AWAITING_FULFILLMENT": 1,
    "PROCESSING": 2,
    "REJECTED": 3,
    "SHIPPED": 4,
    "COMPLETED": 5,
}


@dataclass(frozen=True)
class News:
    fact: Fact
    event_type: str
    occurred_at: datetime


def _start() -> Order:
    sema = product()
    return order(
        placed("pat1", line(sema)),
        charged(),
        MedicalReviewSubmitted(
            master_id=MASTER, trigger="t", visit_type="refill", med_ids=("m1",), attempt=1
        ),
        FulfillmentReleased(partner="belmar", passed_checks=()),
        PharmacyOrderSubmitted(partner="belmar", external_id="LF-1"),
    )


def _beluga(kind: str, minute: int, n: int) -> News:
    key, t = f"beluga:b{n}", at(minute)
    facts: dict[str, Fact] = {
        "RX_WRITTEN": RxWritten(master_id=MASTER, med_ids=("m1",), vendor_event_id=key, written_at=t),
        "APPROVED": ConsultConcluded(
            master_id=MASTER, outcome="approved", vendor_event_id=key, occurred_at=t
        ),
        "REJECTED": ConsultConcluded(
            master_id=MASTER, outcome="rejected", vendor_event_id=key, occurred_at=t
        ),
        "CANCELED": ConsultCanceled(master_id=MASTER, vendor_event_id=key, occurred_at=t),
    }
    return News(facts[kind], kind, t)


def _pharmacy(status: str, minute: int) -> News:
    key, t = f"pharmacy:belmar:{status}", at(minute)
    facts: dict[str, Fact] = {
        "accepted": PharmacyOrderAccepted(
            partner="belmar", external_id="LF-1", vendor_event_id=key, occurred_at=t
        ),
        "processing": PharmacyOrderProcessing(partner="belmar", vendor_event_id=key, occurred_at=t),
        "shipped": OrderShipped(carrier="UPS", tracking="1Z", vendor_event_id=key, shipped_at=t),
        "delivered": OrderDelivered(vendor_event_id=key, delivered_at=t),
        "rejected": PharmacyOrderRejected(
            partner="belmar", reason="no stock", vendor_event_id=key, occurred_at=t
        ),
    }
    return News(facts[status], status, t)


BELUGA_TIMELINES = (
    ("RX_WRITTEN", "APPROVED"),
    ("APPROVED", "RX_WRITTEN"),
    ("RX_WRITTEN",),
    ("REJECTED",),
    ("CANCELED",),
    ("RX_WRITTEN", "CANCELED"),
)
PROGRESS = ("accepted", "processing", "shipped", "delivered")


@st.composite
def timelines(draw: Any) -> list[News]:
    """One realistic history, in the vendors' time order: Beluga first, then (after a prescription)
    the pharmacy's progress, possibly ending in a rejection before anything shipped."""
    beluga = draw(st.sampled_from(BELUGA_TIMELINES))
    events = [_beluga(kind, 10 + i, i) for i, kind in enumerate(beluga)]
    if beluga[0] == "RX_WRITTEN" or beluga == ("APPROVED", "RX_WRITTEN"):
        steps = draw(st.integers(0, len(PROGRESS)))
        events += [_pharmacy(s, 20 + i) for i, s in enumerate(PROGRESS[:steps])]
        if steps <= 2 and draw(st.booleans()):
            events.append(_pharmacy("rejected", 30))
    return events


def _deliver(state: Order, news: News) -> Order:
    if getattr(news.fact, "vendor_event_id", None) in state.seen_vendor_events:
        return state  # a repeat delivery: already applied (or recorded as stale)
    recorded = vendor_fact_to_record(
        state, news.fact, vendor="v", event_type=news.event_type, occurred_at=news.occurred_at
    )
    return evolve_order(state, recorded, state.id)


def _outcome(state: Order) -> tuple[object, ...]:
    return (
        order_status(state),
        state.medical_review_status,
        state.consult_outcome,
        state.rx_med_ids,
        state.pharmacy_rejected_reason,
        (state.accepted, state.processing, state.shipped, state.delivered),
        (state.carrier, state.tracking),
        state.seen_vendor_events,
    )


@settings(max_examples=300, deadline=None)
@hypothesis_given(data=st.data())
def test_any_order_and_repetition_of_webhooks_ends_as_in_order_delivery_never_moving_back(data: Any) -> None:
    timeline = data.draw(timelines())
    repeats = data.draw(st.lists(st.sampled_from(timeline), max_size=6))
    deliveries = data.draw(st.permutations([*timeline, *repeats]))

    in_order = _start()
    for news in timeline:
        in_order = _deliver(in_order, news)

    state = _start()
    rank = RANK[order_status(state)]
    for news in deliveries:
        state = _deliver(state, news)
        now = RANK[order_status(state)]
        assert now >= rank, f"status moved back to {order_status(state)} on {news.event_type}"
        rank = now
    assert _outcome(state) == _outcome(in_order)


def _fold(*news: News) -> Order:
    state = _start()
    for n in news:
        state = _deliver(state, n)
    return state


def test_a_rejection_a_day_older_than_the_delivery_is_recorded_stale_and_the_order_stays_completed() -> None:
    rx, delivered, rejected = (
        _beluga("RX_WRITTEN", 10, 0),
        _pharmacy("delivered", 24 * 60),
        _pharmacy("rejected", 30),
    )
    state = _fold(rx, delivered)
    recorded = vendor_fact_to_record(
        state,
        rejected.fact,
        vendor="pharmacy:belmar",
        event_type="rejected",
        occurred_at=rejected.occurred_at,
    )
    assert isinstance(recorded, VendorFactStale)
    assert (recorded.event_type, recorded.latest_at, recorded.detail) == ("rejected", at(24 * 60), "no stock")
    assert order_status(evolve_order(state, recorded, state.id)) == "COMPLETED"


def test_a_rejection_already_stored_after_a_later_delivery_no_longer_drags_the_status_back() -> None:
    # Histories written before staleness was recorded hold the raw rejection: the fold ignores it.
    rx, delivered, rejected = (
        _beluga("RX_WRITTEN", 10, 0),
        _pharmacy("delivered", 24 * 60),
        _pharmacy("rejected", 30),
    )
    state = evolve_order(_fold(rx, delivered), rejected.fact, "o1")
    assert order_status(state) == "COMPLETED"


def test_a_consult_cancelation_older_than_the_prescription_is_stale_and_a_newer_one_is_not() -> None:
    state = _fold(_beluga("RX_WRITTEN", 10, 0))
    late = _beluga("CANCELED", 5, 1)
    assert isinstance(
        vendor_fact_to_record(
            state, late.fact, vendor="beluga", event_type="CANCELED", occurred_at=late.occurred_at
        ),
        VendorFactStale,
    )
    assert _fold(_beluga("RX_WRITTEN", 10, 0), late).medical_review_status == "rx_written"
    assert _fold(_beluga("RX_WRITTEN", 10, 0), _beluga("CANCELED", 15, 1)).medical_review_status == "canceled"


def test_a_pharmacy_rejection_after_its_acceptance_is_news_and_rejects() -> None:
    state = _fold(_beluga("RX_WRITTEN", 10, 0), _pharmacy("rejected", 30), _pharmacy("accepted", 20))
    assert order_status(state) == "REJECTED"
    assert state.pharmacy_rejected_reason == "no stock"
