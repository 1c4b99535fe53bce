"""The ledger bills subscription cycles by itself on durable timers, with an injected clock, on both
stores: cycles on their dates (never early), dunning retries, pause/skip/resume and cancel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.policies import run_until_idle
from tests.support.app import Ledger, running_ledger
from tests.support.clock import ManualClock

MONTH = timedelta(days=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Ledger]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with running_ledger(tmp_path, url, clock=clock) as running:
        yield running


def fire(ledger: Ledger) -> int:
    return ledger.runtime.timers.run_until_idle()


def start(
    ledger: Ledger, cards: tuple[str, ...] = ("pm_card_visa",)
) -> tuple[dict[str, Any], dict[str, Any]]:
    product = ledger.product(price_cents=14900)
    patient = ledger.patient(cards=cards)
    r = ledger.call(
        "POST",
        "/subscriptions",
        "staff",  # API.md: staff or the service account
        json={
            "patient_id": patient["id"],
            "product_id": product["id"],
            "payment_method_id": patient["cards"][0],
            "interval_days": 30,
        },
    )
    assert r.status_code == 201, r.text
    return r.json(), patient


def sub_view(ledger: Ledger, sub_id: str, role: str = "staff", subject: str | None = None) -> Any:
    r = ledger.call("GET", f"/subscriptions/{sub_id}", role, subject)
    assert r.status_code == 200, r.text
    return r.json()


def order(ledger: Ledger, order_id: str) -> Any:
    return ledger.call("GET", f"/orders/{order_id}", "staff").json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_three_monthly_cycles_are_billed_on_their_dates_never_early(
    ledger: Ledger, clock: ManualClock
) -> None:
    started_at = clock()
    sub, patient = start(ledger)
    assert at(sub["next_cycle_at"]) == started_at + MONTH and sub["state"] == "ACTIVE"

    for k in (1, 2, 3):
        due = started_at + k * MONTH
        clock.set(due - timedelta(seconds=1))
        fire(ledger)
        assert str(k) not in sub_view(ledger, sub["id"])["cycles"], "billed before its date"
        clock.set(due)
        fire(ledger)
        view = sub_view(ledger, sub["id"])
        placed = order(ledger, view["cycles"][str(k)])
        assert (placed["source_context"], placed["cycle_number"]) == ("SUBSCRIPTION_CYCLE", k)
        assert at(placed["placed_at"]) == due and at(placed["charged_at"]) == due
        assert placed["invoice"]["status"] == "PAID"
        assert at(view["next_cycle_at"]) == started_at + (k + 1) * MONTH

    assert ledger.gateway.charges_succeeded() == 3
    assert fire(ledger) == 0  # nothing more is due: a second pass bills nothing
    assert ledger.gateway.charges_succeeded() == 3
    # The patient's own list says, in words, that these are renewals and not refills.
    listed = ledger.call("GET", f"/patients/{patient['id']}/orders", "patient", patient["id"]).json()
    assert len(listed["orders"]) == 3
    labels = sorted(o["kind"]["label"] for o in listed["orders"])
    assert labels == [f"Subscription renewal — cycle {k}" for k in (1, 2, 3)]


def test_a_decline_is_retried_and_succeeds_on_day_3_without_moving_the_next_date(
    ledger: Ledger, clock: ManualClock
) -> None:
    started_at = clock()
    sub, patient = start(ledger, cards=("pm_card_chargeCustomerFail", "pm_card_visa"))
    due = started_at + MONTH
    clock.set(due)
    fire(ledger)
    view = sub_view(ledger, sub["id"], "patient", patient["id"])
    invoice_id = view["dunning"]["invoice_id"]
    assert view["dunning"]["state"] == "RETRYING" and view["state"] == "ACTIVE"
    first = view["dunning"]["attempts"][0]
    assert first["gateway_message"] == "Your card was declined." and first["decline_code"] == "card_declined"
    assert at(view["dunning"]["next_retry_at"]) == due + timedelta(days=1)
    assert order(ledger, view["cycles"]["1"])["invoice"]["status"] == "OPEN"  # stays open

    clock.set(due + timedelta(days=1))  # retry 1: the same card declines again
    fire(ledger)
    view = sub_view(ledger, sub["id"])
    assert [a["retry"] for a in view["dunning"]["attempts"]] == [0, 1]
    assert at(view["dunning"]["next_retry_at"]) == due + timedelta(days=3)

    # The patient puts their other card on the subscription; day 2 passes with no charge.
    r = ledger.call(
        "POST",
        f"/subscriptions/{sub['id']}/payment-method",
        "patient",
        patient["id"],
        json={"payment_method_id": patient["cards"][1]},
    )
    assert r.status_code == 200, r.text
    clock.set(due + timedelta(days=2))
    fire(ledger)
    assert ledger.gateway.charges_succeeded() == 0

    clock.set(due + timedelta(days=3))  # retry 2 succeeds
    fire(ledger)
    view = sub_view(ledger, sub["id"])
    assert view["dunning"] is None and view["state"] == "ACTIVE"
    assert ledger.call("GET", f"/orders/{view['cycles']['1']}", "staff").json()["invoice"]["status"] == "PAID"
    assert ledger.gateway.charges_succeeded() == 1 and len(ledger.gateway.charges()) == 3
    assert at(view["next_cycle_at"]) == started_at + 2 * MONTH  # no drift from the late payment
    # No retry 3 is left behind: day 5 charges nothing.
    clock.set(due + timedelta(days=5))
    fire(ledger)
    assert len(ledger.gateway.charges()) == 3
    assert invoice_id == ledger.call("GET", f"/orders/{view['cycles']['1']}", "staff").json()["invoice"]["id"]


def test_after_the_last_retry_it_is_past_due_and_the_patient_pays_with_another_card(
    ledger: Ledger, clock: ManualClock
) -> None:
    started_at = clock()
    sub, patient = start(ledger, cards=("pm_card_chargeCustomerFail", "pm_card_visa"))
    due = started_at + MONTH
    for day in (0, 1, 3, 5):
        clock.set(due + timedelta(days=day))
        fire(ledger)
    view = sub_view(ledger, sub["id"])
    assert view["state"] == "PAST_DUE" and view["dunning"]["state"] == "PAST_DUE"
    assert [a["retry"] for a in view["dunning"]["attempts"]] == [0, 1, 2, 3]
    assert view["dunning"]["next_retry_at"] is None
    # A cycle that comes due while past due is not billed on top of the unpaid one.
    clock.set(started_at + 2 * MONTH)
    fire(ledger)
    assert sub_view(ledger, sub["id"])["not_billed"] == {"2": "PAST_DUE"}
    # CS finds it in the escalation queue, with the gateway's last words, until it is paid.
    run_until_idle(ledger.runtime.policies)
    queue = ledger.call("GET", "/cs/escalations?kind=SUBSCRIPTION_PAST_DUE", "cs").json()
    (raised,) = [e for e in queue["escalations"] if e["order_id"] == view["cycles"]["1"]]
    assert "declined 4 times" in raised["why"]

    r = ledger.call(
        "POST",
        f"/invoices/{view['dunning']['invoice_id']}/payments",
        "patient",
        patient["id"],
        json={"payment_method_id": patient["cards"][1]},
    )
    assert r.status_code == 200, r.text
    view = sub_view(ledger, sub["id"])
    assert view["state"] == "ACTIVE" and view["dunning"] is None
    assert at(view["next_cycle_at"]) == started_at + 3 * MONTH
    run_until_idle(ledger.runtime.policies)
    queue = ledger.call("GET", "/cs/escalations?kind=SUBSCRIPTION_PAST_DUE", "cs").json()
    assert [e for e in queue["escalations"] if e["order_id"] == raised["order_id"]] == []


def test_a_hard_decline_is_not_retried(ledger: Ledger, clock: ManualClock) -> None:
    started_at = clock()
    sub, _ = start(ledger, cards=("pm_card_chargeDeclinedStolenCard",))
    clock.set(started_at + MONTH)
    fire(ledger)
    view = sub_view(ledger, sub["id"])
    assert view["state"] == "PAST_DUE"
    (only,) = view["dunning"]["attempts"]
    assert only["hard_decline"] and only["decline_code"] == "stolen_card" and only["next_retry_at"] is None
    for day in (1, 3, 5):
        clock.set(started_at + MONTH + timedelta(days=day))
        fire(ledger)
    assert len(ledger.gateway.charges()) == 1


def test_a_pause_skips_a_date_then_resume_bills_the_next_on_schedule(
    ledger: Ledger, clock: ManualClock
) -> None:
    started_at = clock()
    sub, patient = start(ledger)
    clock.set(started_at + MONTH)
    fire(ledger)  # cycle 1 billed
    r = ledger.call("POST", f"/subscriptions/{sub['id']}/pause", "patient", patient["id"])
    assert r.status_code == 200 and r.json()["state"] == "PAUSED"
    again = ledger.call("POST", f"/subscriptions/{sub['id']}/pause", "staff")
    assert again.status_code == 409

    clock.set(started_at + 2 * MONTH)
    fire(ledger)  # cycle 2's date passes while paused
    view = sub_view(ledger, sub["id"])
    assert view["not_billed"] == {"2": "PAUSED"} and "2" not in view["cycles"]
    assert ledger.gateway.charges_succeeded() == 1

    r = ledger.call("POST", f"/subscriptions/{sub['id']}/resume", "patient", patient["id"])
    assert r.status_code == 200 and r.json()["state"] == "ACTIVE"
    assert at(r.json()["next_cycle_at"]) == started_at + 3 * MONTH
    clock.set(started_at + 3 * MONTH)
    fire(ledger)
    view = sub_view(ledger, sub["id"])
    assert sorted(view["cycles"]) == ["1", "3"] and ledger.gateway.charges_succeeded() == 2

    # Skip-next: cycle 4 is not billed, cycle 5 keeps its date.
    r = ledger.call("POST", f"/subscriptions/{sub['id']}/skip-next", "staff")
    assert r.status_code == 200 and r.json()["skip_requested"] == [4]
    for k in (4, 5):
        clock.set(started_at + k * MONTH)
        fire(ledger)
    view = sub_view(ledger, sub["id"])
    assert view["not_billed"] == {"2": "PAUSED", "4": "SKIPPED"} and sorted(view["cycles"]) == ["1", "3", "5"]


def test_a_cancel_stops_all_further_billing(ledger: Ledger, clock: ManualClock) -> None:
    started_at = clock()
    sub, patient = start(ledger)
    other, other_patient = start(ledger)
    clock.set(started_at + MONTH)
    fire(ledger)
    # Another patient cannot see or cancel it; the owner can.
    assert (
        ledger.call("GET", f"/subscriptions/{sub['id']}", "patient", other_patient["id"]).status_code == 404
    )
    denied = ledger.call(
        "POST", f"/subscriptions/{sub['id']}/cancel", "patient", other_patient["id"], json={}
    )
    assert denied.status_code == 404
    assert ledger.call("POST", f"/subscriptions/{sub['id']}/cancel", "cs", json={}).status_code == 403
    r = ledger.call(
        "POST", f"/subscriptions/{sub['id']}/cancel", "patient", patient["id"], json={"reason": "moving"}
    )
    assert r.status_code == 200 and r.json()["state"] == "CANCELED" and r.json()["next_cycle_at"] is None
    for k in (2, 3, 4):
        clock.set(started_at + k * MONTH)
        fire(ledger)
    view = sub_view(ledger, sub["id"])
    assert list(view["cycles"]) == ["1"]
    assert sorted(sub_view(ledger, other["id"])["cycles"]) == ["1", "2", "3", "4"]
    manual = ledger.call("POST", f"/subscriptions/{sub['id']}/cycles", "service", json={})
    assert manual.status_code == 409  # the outside processor cannot bill it either
    assert ledger.gateway.charges_succeeded() == 5


def test_ops_see_overdue_timers_and_cs_sees_the_dunning_on_the_cycle_order(
    ledger: Ledger, clock: ManualClock
) -> None:
    started_at = clock()
    sub, _ = start(ledger, cards=("pm_card_chargeCustomerFail",))
    # The worker is "down": the cycle's date passes by more than a wake-up delay, unfired.
    clock.set(started_at + MONTH + timedelta(minutes=5))
    stuck = ledger.call("GET", "/ops/stuck", "ops").json()
    (overdue,) = stuck["overdue_timers"]
    assert (overdue["purpose"], overdue["key"], overdue["stream_id"]) == (
        "subscription.cycle",
        "cycle-1",
        sub["id"],
    )
    assert overdue["overdue_seconds"] == 300 and stuck["overdue_timers_total"] == 1
    assert ledger.call("GET", "/ops/stuck", "patient", "p").status_code == 403

    fire(ledger)  # the worker comes back: what came due meanwhile fires on start
    assert ledger.call("GET", "/ops/stuck", "ops").json()["overdue_timers"] == []
    view = sub_view(ledger, sub["id"])
    cs = ledger.call("GET", f"/cs/orders/{view['cycles']['1']}", "cs").json()
    assert cs["kind_label"] == "Subscription cycle 1"
    assert cs["subscription"]["dunning"]["attempts"][0]["gateway_message"] == "Your card was declined."
    assert at(cs["subscription"]["dunning"]["next_retry_at"]) == started_at + MONTH + timedelta(
        minutes=5, days=1
    )
    assert at(cs["subscription"]["next_cycle_at"]) == started_at + 2 * MONTH
