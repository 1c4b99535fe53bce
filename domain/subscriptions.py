"""Subscriptions: created by the subscription processor, never by the patient.

Each cycle becomes an order labelled SUBSCRIPTION_CYCLE with its cycle number; a cycle is
billed at most once, so a processor that retries gets the same order back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from domain.events import Fact


class SubscriptionFact(Fact):
    AGGREGATE = "subscription"


class SubscriptionStarted(SubscriptionFact):
    TYPE = "SubscriptionStarted"
    patient_id: str
    product_id: str
    payment_method_id: str
    interval_days: int


class SubscriptionCycleBilled(SubscriptionFact):
    TYPE = "SubscriptionCycleBilled"
    cycle_number: int
    order_id: str
    invoice_id: str


@dataclass(frozen=True)
class Subscription:
    id: str
    started: SubscriptionStarted
    cycles: dict[int, tuple[str, str]] = field(default_factory=dict)  # cycle -> (order, invoice)

    @property
    def next_cycle(self) -> int:
        return max(self.cycles, default=0) + 1


def evolve_subscription(state: Subscription | None, fact: Fact, aggregate_id: str) -> Subscription:
    if isinstance(fact, SubscriptionStarted):
        return Subscription(id=aggregate_id, started=fact)
    assert state is not None
    if isinstance(fact, SubscriptionCycleBilled):
        return replace(state, cycles={**state.cycles, fact.cycle_number: (fact.order_id, fact.invoice_id)})
    return state
