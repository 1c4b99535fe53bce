"""An order's timeline: its events, its invoice's and its refill requests', in global order, each with who
caused it, its correlation and causation ids, and the change it made (status before → after)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.eventstore import LedgerStore
from domain.aggregates import EVOLVERS
from domain.invoices import Invoice
from domain.orders import Order
from domain.refills import Refill
from domain.status import order_status
from replay.history import Positioned, fold_events, order_stream, positioned, stream


@dataclass(frozen=True)
class Entry:
    position: int
    event_id: str
    occurred_at: str
    type: str
    aggregate_type: str
    aggregate_id: str
    version: int
    actor: dict[str, str]
    correlation_id: str
    causation_id: str
    data: dict[str, Any]
    change: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summary(state: Any) -> str | None:
    """The one-word state of an aggregate that CS reads on a timeline."""
    if isinstance(state, Order):
        return order_status(state)
    if isinstance(state, Invoice):
        last = state.last_attempt
        return state.status + (f" (payment {last.outcome})" if last else "")
    if isinstance(state, Refill):
        return f"charge {state.charge}"
    return None


def related_streams(store: LedgerStore, organization_id: str, order_id: str) -> list[list[Any]]:
    """The order, its invoice, the refill request that created it and the refills requested from it."""
    events = order_stream(store, organization_id, order_id)
    order: Order = fold_events("order", order_id, events)
    streams = [events, stream(store, order.placed.invoice_id)]
    refill_ids = [r.refill_id for r in order.refills]
    original_id = order.placed.refill_of_order_id
    if original_id:
        original = (
            fold_events("order", original_id, stream(store, original_id))
            if stream(store, original_id)
            else None
        )
        if isinstance(original, Order):
            refill_ids += [r.refill_id for r in original.refills if r.refill_order_id == order_id]
    streams += [stream(store, rid) for rid in dict.fromkeys(refill_ids)]
    return [s for s in streams if s and s[0].meta.organization_id == organization_id]


def timeline(store: LedgerStore, organization_id: str, order_id: str) -> list[Entry]:
    return timeline_and_states(store, organization_id, order_id)[0]


def timeline_and_states(
    store: LedgerStore, organization_id: str, order_id: str
) -> tuple[list[Entry], dict[str, Any]]:
    """The timeline and, from the same one read, each aggregate's state at its end (by aggregate id)."""
    states: dict[str, Any] = {}
    entries = []
    for p in positioned(store, related_streams(store, organization_id, order_id)):
        entries.append(_entry(p, states))
    return entries, states


def _entry(p: Positioned, states: dict[str, Any]) -> Entry:
    e = p.event
    key = str(e.originator_id)
    before = states.get(key)
    after = EVOLVERS[e.aggregate_type](before, e.fact, key)
    states[key] = after
    was, now = summary(before), summary(after)
    change = {"before": was, "after": now} if was != now else {}
    return Entry(
        position=p.position,
        event_id=str(e.meta.event_id),
        occurred_at=e.meta.occurred_at.isoformat(),
        type=e.type,
        aggregate_type=e.aggregate_type,
        aggregate_id=key,
        version=e.originator_version,
        actor={"kind": e.meta.actor.kind, "id": e.meta.actor.id},
        correlation_id=e.meta.correlation_id,
        causation_id=e.meta.causation_id,
        data=e.fact.model_dump(mode="json"),
        change=change,
    )
