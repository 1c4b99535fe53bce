"""Durable timers: schedule one in a unit of work, fire it exactly once when it is due.

Scheduling adds `TimerScheduled` to the caller's batch, under an id derived from (purpose,
stream, key), so scheduling the same occurrence twice is a no-op. Firing is done by `TimerRunner`:
it reads the due-timer index (`projections.timers`), and for each timer due by the injected clock
hands a `Firing` to the purpose's handler, which records `TimerFired` in the same batch as the
work it does. Exactly once holds by the timer's stream: `TimerFired` always goes at version 2, so
a second worker, or a restart after a crash, fails the expected-version check and does nothing.
On PostgreSQL the runner also claims its page of index rows `FOR UPDATE SKIP LOCKED`, so two
workers running at once split the due timers instead of both doing (then discarding) the work.

Handlers come in two kinds. A *unit* handler owns its units of work (it may call a gateway
between them, as the subscription charge does) and must commit `firing.record(batch)` with its
last one. A *batched* handler only adds facts to a batch the runner commits for many timers at
once (the fast path the benchmark measures).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

import structlog

from adapters.eventstore import ConcurrentWrite, stable_id
from domain.events import Actor
from domain.timers import SCHEDULED_VERSION, Timer, TimerScheduled, fire
from projections.db import ViewDatabase
from projections.runner import catch_up
from projections.timers import DueTimer, DueTimers, due_timers
from service.deps import Deps
from service.unit import Batch, Context, try_load

log = structlog.get_logger(__name__)

WORKER = Actor(kind="policy", id="timer_worker")
MAX_BACKOFF = timedelta(minutes=10)


def timer_uuid(purpose: str, stream_id: str, key: str) -> UUID:
    return stable_id("timer", purpose, stream_id, key)


def schedule(
    deps: Deps,
    batch: Batch,
    *,
    purpose: str,
    key: str,
    stream_type: str,
    stream_id: str,
    due_at: datetime,
) -> UUID | None:
    """Add `TimerScheduled` to `batch`; None when this occurrence is already scheduled."""
    uid = timer_uuid(purpose, stream_id, key)
    if any(e.originator_id == uid for e in batch.events) or try_load(deps.store, Timer, uid):
        return None
    batch.start(
        uid,
        TimerScheduled(purpose=purpose, key=key, stream_type=stream_type, stream_id=stream_id, due_at=due_at),
    )
    return uid


class AlreadyFired(Exception):
    """The timer was fired or canceled by someone else meanwhile: nothing left to do."""


class NotYet(Exception):
    """The handler cannot do its work now (a charge in flight); try again at `retry_at`."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


@dataclass(frozen=True)
class Firing:
    """One timer being fired: what it is, and how to close it inside the handler's batch."""

    timer: Timer
    uid: UUID
    now: datetime
    store_check: Callable[[UUID], bool]  # True while the timer's stream is still pending
    fired_by: str = ""

    @property
    def key(self) -> str:
        return self.timer.scheduled.key

    @property
    def stream_id(self) -> str:
        return self.timer.scheduled.stream_id

    def record(self, batch: Batch) -> None:
        """Close the timer in `batch`; raises AlreadyFired when it was closed meanwhile."""
        if not self.store_check(self.uid):
            raise AlreadyFired(str(self.uid))
        batch.add(self.uid, SCHEDULED_VERSION, fire(self.timer, self.now, self.fired_by))


UnitHandler = Callable[[Deps, Context, Firing], None]
BatchHandler = Callable[[Deps, Context, Firing, Batch], None]


@dataclass
class TimerHandlers:
    units: dict[str, UnitHandler] = field(default_factory=dict)
    batched: dict[str, BatchHandler] = field(default_factory=dict)

    def merged(self, other: TimerHandlers) -> TimerHandlers:
        return TimerHandlers({**self.units, **other.units}, {**self.batched, **other.batched})


def _pending(deps: Deps, uid: UUID) -> bool:
    loaded = try_load(deps.store, Timer, uid)
    return loaded is not None and loaded.version == SCHEDULED_VERSION


@dataclass
class TimerRunner:
    """One pass = catch the index up, claim the due page, fire it. Safe to run in many processes."""

    deps: Deps
    views: ViewDatabase
    handlers: TimerHandlers
    page: int = 500
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    index: DueTimers = field(default_factory=DueTimers)
    _not_before: dict[str, datetime] = field(default_factory=dict)
    _failures: dict[str, int] = field(default_factory=dict)

    def run_once(self) -> int:
        """Fire what is due now; returns how many timers this pass closed."""
        catch_up(self.deps.store, self.views, self.index)
        now = self.deps.clock()
        with self._claim(now) as due:
            ready = [t for t in due if self._not_before.get(t.timer_id, now) <= now]
            batched = [t for t in ready if t.purpose in self.handlers.batched]
            fired = self._fire_batched(batched, now) if batched else 0
            for timer in ready:
                if timer.purpose not in self.handlers.batched:
                    fired += self._fire_one(timer, now)
        return fired

    def run_until_idle(self, max_passes: int = 100) -> int:
        total = 0
        for _ in range(max_passes):
            fired = self.run_once()
            total += fired
            if fired == 0:
                break
        return total

    @contextlib.contextmanager
    def _claim(self, now: datetime) -> Iterator[list[DueTimer]]:
        if self.views.kind != "postgres":
            with self.views.transaction() as cursor:
                due = due_timers(cursor, now, self.page)
            yield due  # SQLite has one writer: nothing to share out
            return
        # The claim transaction stays open while the page is fired; row locks, not advisory ones,
        # so a second worker skips this page and takes the next (the locks end with the process).
        with self.views.transaction() as cursor:
            yield due_timers(cursor, now, self.page, claim=True)

    def _ctx(self, organization_id: str, causation: str) -> Context:
        return Context(WORKER, organization_id, f"timer-{causation}", causation)

    def _fire_one(self, due: DueTimer, now: datetime) -> int:
        loaded = try_load(self.deps.store, Timer, due.timer_id)
        if loaded is None or loaded.version != SCHEDULED_VERSION:
            return 0  # the index lags the log: already closed
        timer: Timer = loaded.state
        if timer.due_at > now:
            return 0  # never early (a clock that moved back)
        firing = Firing(timer, loaded.id, now, lambda uid: _pending(self.deps, uid), self.worker_id)
        ctx = self._ctx(loaded.organization_id or due.organization_id, due.timer_id)
        handler = self.handlers.units.get(due.purpose)
        try:
            if handler is None:
                log.warning("timer.no_handler", purpose=due.purpose, timer_id=due.timer_id)
                batch = self.deps.batch(ctx)
                firing.record(batch)
                self.deps.commit(batch)
            else:
                handler(self.deps, ctx, firing)
        except (AlreadyFired, ConcurrentWrite):
            return 0
        except NotYet as wait:
            self._not_before[due.timer_id] = wait.retry_at or now + timedelta(seconds=30)
            log.info("timer.not_yet", purpose=due.purpose, timer_id=due.timer_id, reason=str(wait))
            return 0
        except Exception:
            failures = self._failures[due.timer_id] = self._failures.get(due.timer_id, 0) + 1
            backoff = min(timedelta(seconds=5 * 2 ** min(failures, 10)), MAX_BACKOFF)
            self._not_before[due.timer_id] = now + backoff
            log.exception("timer.failed", purpose=due.purpose, timer_id=due.timer_id, failures=failures)
            return 0
        self._failures.pop(due.timer_id, None)
        self._not_before.pop(due.timer_id, None)
        log.info("timer.fired", purpose=due.purpose, timer_id=due.timer_id, due_at=due.due_at.isoformat())
        return 1

    def _fire_batched(self, due: list[DueTimer], now: datetime) -> int:
        """Close many timers in one append; their closing version is known (2) without reading them."""
        by_org: dict[str, list[DueTimer]] = {}
        for timer in due:
            by_org.setdefault(timer.organization_id, []).append(timer)
        fired = 0
        for organization_id, timers in by_org.items():
            batch = self.deps.batch(self._ctx(organization_id, "batch"))
            for t in timers:
                scheduled = TimerScheduled(
                    purpose=t.purpose,
                    key=t.key,
                    stream_type=t.stream_type,
                    stream_id=t.stream_id,
                    due_at=t.due_at,
                )
                uid = UUID(t.timer_id)
                firing = Firing(Timer(t.timer_id, scheduled), uid, now, lambda _uid: True, self.worker_id)
                self.handlers.batched[t.purpose](self.deps, batch.ctx, firing, batch)
                firing.record(batch)
            try:
                self.deps.commit(batch)
                fired += len(timers)
            except ConcurrentWrite:  # one of them was closed meanwhile: go one by one
                fired += sum(self._fire_batched_alone(t, now) for t in timers)
        return fired

    def _fire_batched_alone(self, due: DueTimer, now: datetime) -> int:
        handler = self.handlers.batched[due.purpose]

        def unit(deps: Deps, ctx: Context, firing: Firing) -> None:
            batch = deps.batch(ctx)
            handler(deps, ctx, firing, batch)
            firing.record(batch)
            deps.commit(batch)

        units = TimerHandlers(units={due.purpose: unit})
        return TimerRunner(self.deps, self.views, units, worker_id=self.worker_id)._fire_one(due, now)


class TimerWorker:
    """Runs a `TimerRunner` in a daemon thread: wakes at the next due time, on this process's
    commits (a timer just scheduled), and at least every `poll_seconds` (other processes' timers)."""

    def __init__(self, runner: TimerRunner, poll_seconds: float = 1.0) -> None:
        self.runner = runner
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timer-worker", daemon=True)

    def start(self) -> TimerWorker:
        self.runner.deps.after_commit.append(lambda _position: self._wake.set())
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_forever(self) -> None:
        """The same loop in the calling thread (`ledger timers`), until stopped."""
        self._run()

    def _run(self) -> None:
        backoff = self.poll_seconds
        while not self._stop.is_set():
            try:
                fired = self.runner.run_once()
                backoff = self.poll_seconds
            except Exception:  # the store itself failed: keep the worker alive, back off
                log.exception("timer_worker.error")
                fired, backoff = 0, min(backoff * 2, 30.0)
            if fired == 0:
                self._wake.wait(backoff)
                self._wake.clear()
