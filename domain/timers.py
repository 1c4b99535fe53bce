"""Durable timers, kept as facts: scheduled, then fired or canceled, each exactly once.

A timer is its own short stream: `TimerScheduled` at version 1, then `TimerFired` or
`TimerCanceled` at version 2 and nothing after. Because the closing fact always goes at version
2, two workers that both try to fire one timer collide on the store's expected-version check and
only one commits; the work a timer triggers is appended in that same transaction, so it happens
once too. A timer never fires before `due_at`: the worker asks `is_due` with the injected clock.

What a timer does is named by `purpose` (a handler the service layer registers) and `key`
(which occurrence: "cycle 3", "retry 2"); `stream_type`/`stream_id` say which stream it acts on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from domain.errors import Conflict
from domain.events import Fact

SCHEDULED_VERSION = 1
CLOSED_VERSION = 2  # TimerFired or TimerCanceled always lands here


class TimerFact(Fact):
    AGGREGATE = "timer"


class TimerScheduled(TimerFact):
    TYPE = "TimerScheduled"
    purpose: str  # e.g. "subscription.cycle"
    key: str  # which occurrence, e.g. "cycle-3"
    stream_type: str  # the aggregate the timer acts on
    stream_id: str
    due_at: datetime


class TimerFired(TimerFact):
    TYPE = "TimerFired"
    fired_at: datetime
    late_by_seconds: float  # how long after due_at the worker got to it (its wake-up delay)
    fired_by: str = ""  # which worker process (host:pid), for ops reading a timer's history


class TimerCanceled(TimerFact):
    TYPE = "TimerCanceled"
    reason: str


@dataclass(frozen=True)
class Timer:
    id: str
    scheduled: TimerScheduled
    state: Literal["PENDING", "FIRED", "CANCELED"] = "PENDING"
    fired_at: datetime | None = None

    @property
    def due_at(self) -> datetime:
        return self.scheduled.due_at


def evolve_timer(state: Timer | None, fact: Fact, aggregate_id: str) -> Timer:
    if isinstance(fact, TimerScheduled):
        return Timer(id=aggregate_id, scheduled=fact)
    assert state is not None
    if isinstance(fact, TimerFired):
        return Timer(state.id, state.scheduled, "FIRED", fact.fired_at)
    if isinstance(fact, TimerCanceled):
        return Timer(state.id, state.scheduled, "CANCELED")
    return state


def is_due(timer: Timer, now: datetime) -> bool:
    return timer.state == "PENDING" and timer.due_at <= now


def fire(timer: Timer, now: datetime, fired_by: str = "") -> TimerFired:
    """Decide the firing: only a pending timer whose time has come (never early)."""
    if timer.state != "PENDING":
        raise Conflict(reasons=("TIMER_CLOSED",), facts={"state": timer.state})
    if timer.due_at > now:
        raise Conflict(reasons=("TIMER_NOT_DUE",))
    return TimerFired(fired_at=now, late_by_seconds=(now - timer.due_at).total_seconds(), fired_by=fired_by)


def cancel(timer: Timer, reason: str) -> TimerCanceled | None:
    """Cancel a pending timer; one already fired or canceled needs nothing."""
    return TimerCanceled(reason=reason) if timer.state == "PENDING" else None
