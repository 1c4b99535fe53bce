"""Reading history for ops: aggregates folded from their streams, with each event's global position."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.eventlog import positions_of
from adapters.eventstore import LedgerStore
from domain.aggregates import EVOLVERS
from domain.events import Recorded


class NoSuchOrder(LookupError):
    """The order does not exist (or belongs to another organization)."""


def as_uuid(value: str | None) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Positioned:
    position: int
    event: Recorded


def stream(store: LedgerStore, aggregate_id: str | None) -> list[Recorded]:
    uid = as_uuid(aggregate_id)
    return store.stream(uid) if uid else []


def fold_events(aggregate_type: str, aggregate_id: str, events: Iterable[Recorded]) -> Any:
    evolve, state = EVOLVERS[aggregate_type], None
    for e in events:
        state = evolve(state, e.fact, aggregate_id)
    return state


def load(store: LedgerStore, aggregate_type: str, aggregate_id: str | None) -> Any:
    """The aggregate's current state, or None when there is no such stream of that type."""
    events = stream(store, aggregate_id)
    if not events or events[0].aggregate_type != aggregate_type:
        return None
    return fold_events(aggregate_type, str(aggregate_id), events)


def order_stream(store: LedgerStore, organization_id: str, order_id: str) -> list[Recorded]:
    events = stream(store, order_id)
    if not events or events[0].aggregate_type != "order" or events[0].meta.organization_id != organization_id:
        raise NoSuchOrder(order_id)
    return events


def positioned(store: LedgerStore, streams: Iterable[list[Recorded]]) -> list[Positioned]:
    """Events of several streams in global (commit) order."""
    events = [e for s in streams for e in s]
    where = positions_of(store, {e.originator_id for e in events})
    return sorted(
        (Positioned(where[(e.originator_id, e.originator_version)], e) for e in events),
        key=lambda p: p.position,
    )
