"""Subscriptions: created by the subscription processor, never by the patient.

Each cycle becomes an order labelled SUBSCRIPTION_CYCLE with its cycle number; a cycle is
billed at most once, so a processor that retries gets the same order back. Cycle k is due at
`starts_at + k * interval` (a pure function of the start, so a late, retried or skipped cycle
never moves the dates after it). Pause, resume, skip-next and cancel are facts; a due cycle that
is paused, skipped or past due is recorded as not billed, with the reason. A declined cycle goes
into dunning (see `domain.dunning`); the state a person sees is computed here from those facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from domain.errors import Conflict
from domain.events import Fact

SubscriptionState = Literal["ACTIVE", "PAUSED", "PAST_DUE", "CANCELED"]
NotBilledReason = Literal["PAUSED", "SKIPPED", "PAST_DUE"]


class SubscriptionFact(Fact):
    AGGREGATE = "subscription"


class SubscriptionStarted(SubscriptionFact):
    TYPE = "SubscriptionStarted"
    patient_id: str
    product_id: str
    payment_method_id: str
    interval_days: int
    # Set: the ledger bills cycle k itself at starts_at + k * interval. Unset (older subscriptions):
    # only an outside processor bills, through POST /subscriptions/{id}/cycles.
    starts_at: datetime | None = None


class SubscriptionCycleBilled(SubscriptionFact):
    TYPE = "SubscriptionCycleBilled"
    cycle_number: int
    order_id: str
    invoice_id: str


class SubscriptionCycleNotBilled(SubscriptionFact):
    TYPE = "SubscriptionCycleNotBilled"
    cycle_number: int
    reason: NotBilledReason


class SubscriptionPaused(SubscriptionFact):
    TYPE = "SubscriptionPaused"


class SubscriptionResumed(SubscriptionFact):
    TYPE = "SubscriptionResumed"


class SubscriptionCycleSkipRequested(SubscriptionFact):
    TYPE = "SubscriptionCycleSkipRequested"
    cycle_number: int


class SubscriptionCanceled(SubscriptionFact):
    TYPE = "SubscriptionCanceled"
    reason: str


class SubscriptionPaymentMethodChanged(SubscriptionFact):
    TYPE = "SubscriptionPaymentMethodChanged"
    payment_method_id: str


class SubscriptionPaymentDeclined(SubscriptionFact):
    """One declined charge of a cycle's invoice: the first one opens dunning."""

    TYPE = "SubscriptionPaymentDeclined"
    cycle_number: int
    invoice_id: str
    attempt: int  # the invoice's payment attempt number
    retry: int  # 0 for the cycle's own charge, n for the n-th dunning retry
    decline_code: str | None
    message: str
    hard: bool  # lost/stolen card, no such card: never retried
    declined_at: datetime
    next_retry_at: datetime | None


class SubscriptionPastDue(SubscriptionFact):
    TYPE = "SubscriptionPastDue"
    cycle_number: int
    invoice_id: str


class SubscriptionCyclePaid(SubscriptionFact):
    """The cycle's invoice is paid (by a retry, or by the patient with another card): dunning ends."""

    TYPE = "SubscriptionCyclePaid"
    cycle_number: int
    invoice_id: str


@dataclass(frozen=True)
class DunningAttempt:
    retry: int
    attempt: int
    decline_code: str | None
    message: str
    hard: bool
    declined_at: datetime
    next_retry_at: datetime | None


@dataclass(frozen=True)
class Dunning:
    cycle_number: int
    invoice_id: str
    attempts: tuple[DunningAttempt, ...] = ()
    past_due: bool = False

    @property
    def opened_at(self) -> datetime | None:
        return self.attempts[0].declined_at if self.attempts else None

    @property
    def next_retry_at(self) -> datetime | None:
        return self.attempts[-1].next_retry_at if self.attempts and not self.past_due else None


@dataclass(frozen=True)
class Subscription:
    id: str
    started: SubscriptionStarted
    cycles: dict[int, tuple[str, str]] = field(default_factory=dict)  # cycle -> (order, invoice)
    not_billed: dict[int, NotBilledReason] = field(default_factory=dict)
    skip_requested: frozenset[int] = frozenset()
    paused: bool = False
    canceled: bool = False
    payment_method_id: str = ""
    dunning: Dunning | None = None
    history: tuple[Dunning, ...] = ()  # closed dunning episodes, for CS

    @property
    def next_cycle(self) -> int:
        return max((*self.cycles, *self.not_billed), default=0) + 1

    @property
    def state(self) -> SubscriptionState:
        if self.canceled:
            return "CANCELED"
        if self.dunning is not None and self.dunning.past_due:
            return "PAST_DUE"
        return "PAUSED" if self.paused else "ACTIVE"

    @property
    def automatic(self) -> bool:
        return self.started.starts_at is not None

    def cycle_due_at(self, cycle_number: int) -> datetime | None:
        if self.started.starts_at is None:
            return None
        return self.started.starts_at + cycle_number * timedelta(days=self.started.interval_days)

    @property
    def next_cycle_at(self) -> datetime | None:
        return None if self.canceled else self.cycle_due_at(self.next_cycle)


def evolve_subscription(state: Subscription | None, fact: Fact, aggregate_id: str) -> Subscription:
    if isinstance(fact, SubscriptionStarted):
        return Subscription(id=aggregate_id, started=fact, payment_method_id=fact.payment_method_id)
    assert state is not None
    match fact:
        case SubscriptionCycleBilled():
            cycles = {**state.cycles, fact.cycle_number: (fact.order_id, fact.invoice_id)}
            return replace(state, cycles=cycles)
        case SubscriptionCycleNotBilled():
            return replace(state, not_billed={**state.not_billed, fact.cycle_number: fact.reason})
        case SubscriptionPaused():
            return replace(state, paused=True)
        case SubscriptionResumed():
            return replace(state, paused=False)
        case SubscriptionCycleSkipRequested():
            return replace(state, skip_requested=state.skip_requested | {fact.cycle_number})
        case SubscriptionCanceled():
            return replace(state, canceled=True)
        case SubscriptionPaymentMethodChanged():
            return replace(state, payment_method_id=fact.payment_method_id)
        case SubscriptionPaymentDeclined():
            return replace(state, dunning=_declined(state, fact))
        case SubscriptionPastDue() if state.dunning is not None:
            return replace(state, dunning=replace(state.dunning, past_due=True))
        case SubscriptionCyclePaid() if state.dunning is not None:
            if state.dunning.invoice_id == fact.invoice_id:
                return replace(state, dunning=None, history=(*state.history, state.dunning))
    return state


def _declined(state: Subscription, fact: SubscriptionPaymentDeclined) -> Dunning:
    current = state.dunning
    if current is None or current.invoice_id != fact.invoice_id:
        current = Dunning(fact.cycle_number, fact.invoice_id)
    attempt = DunningAttempt(
        fact.retry,
        fact.attempt,
        fact.decline_code,
        fact.message,
        fact.hard,
        fact.declined_at,
        fact.next_retry_at,
    )
    return replace(current, attempts=(*current.attempts, attempt))


# -- decisions -----------------------------------------------------------------------------------

CycleDecision = Literal["BILL", "ALREADY_DONE", "STOP"] | NotBilledReason


def on_cycle_due(sub: Subscription, cycle_number: int) -> CycleDecision:
    """What to do when cycle k's date comes: bill it, record why not, or stop (canceled)."""
    if sub.canceled:
        return "STOP"
    if cycle_number in sub.cycles or cycle_number in sub.not_billed:
        return "ALREADY_DONE"  # billed by hand by an outside processor, or a second firing
    if sub.paused:
        return "PAUSED"
    if cycle_number in sub.skip_requested:
        return "SKIPPED"
    if sub.state == "PAST_DUE":
        return "PAST_DUE"  # no new charge on top of an unpaid one; billing resumes once it is paid
    return "BILL"


def pause(sub: Subscription) -> SubscriptionPaused:
    _not_canceled(sub)
    if sub.paused:
        raise Conflict(reasons=("SUBSCRIPTION_PAUSED",))
    return SubscriptionPaused()


def resume(sub: Subscription) -> SubscriptionResumed:
    _not_canceled(sub)
    if not sub.paused:
        raise Conflict(reasons=("SUBSCRIPTION_NOT_PAUSED",))
    return SubscriptionResumed()


def skip_next(sub: Subscription) -> SubscriptionCycleSkipRequested:
    _not_canceled(sub)
    cycle = sub.next_cycle
    if cycle in sub.skip_requested:
        raise Conflict(reasons=("CYCLE_ALREADY_SKIPPED",), facts={"cycle": cycle})
    return SubscriptionCycleSkipRequested(cycle_number=cycle)


def cancel(sub: Subscription, reason: str) -> SubscriptionCanceled:
    _not_canceled(sub)
    return SubscriptionCanceled(reason=reason)


def _not_canceled(sub: Subscription) -> None:
    if sub.canceled:
        raise Conflict(reasons=("SUBSCRIPTION_CANCELED",))
