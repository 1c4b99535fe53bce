"""Dead letters per order: a policy step that fails is recorded on that order and retried from there.

A failing step never holds up its stream: the worker records `PolicyStepFailed` (step, error,
attempts, next try) on the order together with the stream's tracking position, in one transaction,
and moves on. The order's step is retried with exponential backoff (`DeadLetters.due`), or at once by
hand (`ledger replay redrive ORDER`); when it goes through, `PolicyStepRecovered` closes it. The
open dead letters are read back from the log on start, so a restart forgets none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from adapters.eventstore import decode_notification
from domain.events import Recorded
from domain.orders import Order, PolicyStepFailed, PolicyStepRecovered
from service.deps import Deps, retry_on_conflict
from service.fulfillment import SubmissionDeferred, append_tracked
from service.unit import Context, try_load

FIRST_RETRY = timedelta(seconds=2)
LONGEST_WAIT = timedelta(minutes=15)
TOPICS = ("PolicyStepFailed", "PolicyStepRecovered")


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s, … capped at 15 minutes."""
    return min(FIRST_RETRY * (1 << min(max(attempts, 1) - 1, 20)), LONGEST_WAIT)


def describe(exc: BaseException) -> str:
    if isinstance(exc, SubmissionDeferred):
        return f"pharmacy unreachable: {exc}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def record_failure(
    deps: Deps, ctx: Context, order_id: str, step: str, error: str, tracking: tuple[str, int] | None
) -> PolicyStepFailed | None:
    """Record the failed step on the order (with the stream's position when given); returns it."""

    def attempt() -> PolicyStepFailed | None:
        loaded = try_load(deps.store, Order, order_id)
        if loaded is None:
            append_tracked(deps, [], tracking)
            return None
        order: Order = loaded.state
        previous = next((f for f in order.failed_steps if f.step == step), None)
        attempts = (previous.attempts if previous else 0) + 1
        fact = PolicyStepFailed(
            step=step, error=error, attempts=attempts, next_try_at=deps.clock() + backoff(attempts)
        )
        batch = deps.batch(ctx)
        batch.extend(loaded, fact)
        return fact if append_tracked(deps, batch.events, tracking) else None

    return retry_on_conflict(attempt)


def record_recovery(deps: Deps, ctx: Context, order_id: str, step: str) -> bool:
    """Close the order's dead letter for `step` if it has one; True when one was closed."""

    def attempt() -> bool:
        loaded = try_load(deps.store, Order, order_id)
        if loaded is None:
            return False
        failed = next((f for f in loaded.state.failed_steps if f.step == step), None)
        if failed is None:
            return False
        batch = deps.batch(ctx)
        batch.extend(loaded, PolicyStepRecovered(step=step, attempts=failed.attempts))
        deps.commit(batch)
        return True

    return retry_on_conflict(attempt)


@dataclass
class DeadLetters:
    """The open dead letters, kept up to date from the log (rebuilt from position 0 on start)."""

    position: int = 0
    open: dict[tuple[str, str], Recorded] = field(default_factory=dict)  # (order id, step) -> failure

    def catch_up(self, deps: Deps, page: int = 500) -> None:
        for notification in deps.store.iter_notifications(self.position, page, TOPICS):
            self.position = notification.id
            event = decode_notification(notification)
            fact = event.fact
            key = (str(event.originator_id), getattr(fact, "step", ""))
            if isinstance(fact, PolicyStepFailed):
                self.open[key] = event
            else:
                self.open.pop(key, None)

    def due(self, now: datetime) -> Sequence[Recorded]:
        """The failures whose next try has come, the longest waiting first."""
        waiting = [
            (e.fact.next_try_at, e) for e in self.open.values() if isinstance(e.fact, PolicyStepFailed)
        ]
        return [e for at, e in sorted(waiting, key=lambda pair: pair[0]) if at <= now]

    def is_open(self, order_id: str, step: str) -> bool:
        return (order_id, step) in self.open
