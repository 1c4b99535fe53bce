"""Escalations as facts: raised by a policy when a condition appears on an order, resolved when it clears.

CS works from a queue (`GET /cs/escalations`) instead of opening orders one at a time. Each order has one
small stream of escalation facts (aggregate `escalations`, id derived from the order id); its state is the
open escalations by kind, so "one open escalation per order and kind" is enforced by the stream's
optimistic concurrency, and evaluating an order twice changes nothing (`decide` is idempotent).

A condition is a pure function of `OrderFacts` returning `Details` (why it holds, as typed values and
stable codes) or None. **Adding one is a one-function change** in `domain/escalation_conditions.py`:

    @condition("PAST_DUE_SUBSCRIPTION")
    def past_due(f: OrderFacts) -> Details | None:
        return Details(reasons=("PAST_DUE",)) if ... else None

If it needs a fact `OrderFacts` lacks, add a field with a default here and fill it in
`service/escalations.gather`; if other events should re-evaluate an order, add their topics to
`service/escalations.TRIGGERS`. Words (the "why" sentence, the report) are built in `api/presentation.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from domain.catalog import Product
from domain.events import Fact
from domain.invoices import Invoice
from domain.orders import Order
from domain.refills import Refill
from domain.subscriptions import Subscription


class Details(BaseModel):
    """Why a condition holds, as values: stable reason codes and the figures or vendor words behind them."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    reasons: tuple[str, ...] = ()
    message: str | None = None  # a vendor's or gateway's own words (Beluga's error, the pharmacy's reason)
    related_order_ids: tuple[str, ...] = ()
    expected_cents: int | None = None
    actual_cents: int | None = None
    med_ids: tuple[str, ...] = ()
    expected_med_ids: tuple[str, ...] = ()
    since: datetime | None = None
    attempts: int | None = None  # e.g. how many charges of a past-due cycle were declined


class EscalationFact(Fact):
    AGGREGATE = "escalations"


class EscalationRaised(EscalationFact):
    TYPE = "EscalationRaised"
    escalation_id: str
    kind: str
    order_id: str
    order_number: str
    patient_id: str
    details: Details
    raised_at: datetime


class EscalationResolved(EscalationFact):
    TYPE = "EscalationResolved"
    escalation_id: str
    kind: str
    order_id: str
    resolved_at: datetime


@dataclass(frozen=True)
class OrderFacts:
    """Everything a condition may look at, loaded once per evaluation by `service/escalations.gather`."""

    order: Order
    invoice: Invoice | None
    now: datetime
    refill: Refill | None = None  # the refill request that created this order
    original: Order | None = None  # the order this one refills
    refill_invoices: Mapping[str, Invoice] = field(default_factory=dict)  # of original's and own refills
    product_then: Product | None = None  # the refill product as the catalog had it at placement
    products: Mapping[str, Product] = field(default_factory=dict)  # the order's products now
    pending_charge_after: timedelta = timedelta(minutes=15)
    subscription: Subscription | None = None  # a cycle order's subscription, for its dunning


Condition = Callable[[OrderFacts], Details | None]
CONDITIONS: dict[str, Condition] = {}


def condition(kind: str) -> Callable[[Condition], Condition]:
    """Register `fn` as the condition of escalation `kind` (a stable code, one function per kind)."""

    def register(fn: Condition) -> Condition:
        if kind in CONDITIONS and CONDITIONS[kind] is not fn:
            raise TypeError(f"escalation kind {kind!r} already has a condition")
        CONDITIONS[kind] = fn
        return fn

    return register


def evaluate(facts: OrderFacts) -> dict[str, Details]:
    """Every escalation kind whose condition holds for this order now."""
    found: dict[str, Details] = {}
    for kind, check in CONDITIONS.items():
        details = check(facts)
        if details is not None:
            found[kind] = details
    return found


@dataclass(frozen=True)
class OpenEscalation:
    escalation_id: str
    raised_at: datetime
    details: Details


@dataclass(frozen=True)
class OrderEscalations:
    order_id: str
    open: Mapping[str, OpenEscalation] = field(default_factory=dict)  # kind -> the open one


def decide(
    state: OrderEscalations | None,
    order: Order,
    found: Mapping[str, Details],
    new_ids: Callable[[], str],
    now: datetime,
) -> list[Fact]:
    """Raise what holds and is not open; resolve what is open and no longer holds. Nothing else."""
    current = state.open if state is not None else {}
    facts: list[Fact] = [
        EscalationRaised(
            escalation_id=new_ids(),
            kind=kind,
            order_id=order.id,
            order_number=order.number,
            patient_id=order.patient_id,
            details=details,
            raised_at=now,
        )
        for kind, details in found.items()
        if kind not in current
    ]
    facts += [
        EscalationResolved(escalation_id=e.escalation_id, kind=kind, order_id=order.id, resolved_at=now)
        for kind, e in current.items()
        if kind not in found
    ]
    return facts


def evolve_escalations(state: OrderEscalations | None, fact: Fact, aggregate_id: str) -> OrderEscalations:
    state = state or OrderEscalations(order_id=getattr(fact, "order_id", aggregate_id))
    if isinstance(fact, EscalationRaised):
        opened = OpenEscalation(fact.escalation_id, fact.raised_at, fact.details)
        return replace(state, open={**state.open, fact.kind: opened})
    if isinstance(fact, EscalationResolved):
        return replace(state, open={k: v for k, v in state.open.items() if k != fact.kind})
    return state


from domain import escalation_conditions as _conditions  # noqa: E402, F401  (registers the conditions)
