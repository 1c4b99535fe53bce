"""Timer and dunning rules, and the clock settings, without a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.dunning import after_decline, past_due_condition
from domain.errors import Conflict
from domain.subscriptions import Subscription, SubscriptionStarted, evolve_subscription
from domain.timers import Timer, TimerScheduled, evolve_timer, fire
from ledger.settings import Settings, SettingsError

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def _timer(due: datetime) -> Timer:
    return evolve_timer(
        None, TimerScheduled(purpose="p", key="k", stream_type="s", stream_id="x", due_at=due), "t"
    )


def test_a_timer_never_fires_early_and_only_once() -> None:
    timer = _timer(T0)
    with pytest.raises(Conflict):
        fire(timer, T0 - timedelta(microseconds=1))
    fired = fire(timer, T0 + timedelta(seconds=2), "w:1")
    assert fired.late_by_seconds == 2
    closed = evolve_timer(timer, fired, "t")
    with pytest.raises(Conflict):
        fire(closed, T0 + timedelta(seconds=3))


def _sub() -> Subscription:
    started = SubscriptionStarted(
        patient_id="p", product_id="x", payment_method_id="m", interval_days=30, starts_at=T0
    )
    return evolve_subscription(None, started, "s")


def test_retries_are_anchored_on_the_first_decline_and_hard_declines_end_at_once() -> None:
    sub = _sub()
    facts, retry = after_decline(
        sub,
        cycle_number=1,
        invoice_id="i",
        attempt=1,
        decline_code="card_declined",
        message="no",
        retry=0,
        now=T0,
        retry_days=(1, 3, 5),
    )
    assert retry is not None and (retry.retry, retry.due_at) == (1, T0 + timedelta(days=1))
    for fact in facts:
        sub = evolve_subscription(sub, fact, "s")
    # Retry 1 runs an hour late; retry 2 is still day 3 after the first decline, not after this one.
    _, retry = after_decline(
        sub,
        cycle_number=1,
        invoice_id="i",
        attempt=2,
        decline_code="card_declined",
        message="no",
        retry=1,
        now=T0 + timedelta(days=1, hours=1),
        retry_days=(1, 3, 5),
    )
    assert retry is not None and retry.due_at == T0 + timedelta(days=3)
    facts, retry = after_decline(
        _sub(),
        cycle_number=1,
        invoice_id="i",
        attempt=1,
        decline_code="lost_card",
        message="lost",
        retry=0,
        now=T0,
        retry_days=(1, 3, 5),
    )
    assert retry is None and [f.TYPE for f in facts] == ["SubscriptionPaymentDeclined", "SubscriptionPastDue"]
    past_due = _sub()
    for fact in facts:
        past_due = evolve_subscription(past_due, fact, "s")
    condition = past_due_condition(past_due)
    assert (
        past_due.state == "PAST_DUE" and condition is not None and condition.last_decline_code == "lost_card"
    )


def test_ledger_now_is_local_only_and_needs_an_offset() -> None:
    with pytest.raises(ValidationError):
        Settings(LEDGER_NOW="2027-01-04T09:00:00")
    started = Settings(LEDGER_NOW="2027-01-04T09:00:00Z").clock()()
    assert T0 <= started < T0 + timedelta(seconds=5)
    with pytest.raises(SettingsError):
        Settings(LEDGER_ENV="production", LEDGER_NOW="2027-01-04T09:00:00Z").with_local_defaults()
    assert Settings(LEDGER_DUNNING_RETRY_DAYS="2,4").dunning_retry_days == (2, 4)
    with pytest.raises(ValidationError):
        Settings(LEDGER_DUNNING_RETRY_DAYS="3,1")
