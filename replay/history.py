"""Reading history for ops: aggregates folded from their streams, with each event's global position."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, overload
from uuid import UUID

from adapters.aggregates import try_load
from adapters.eventlog import positions_of
from adapters.eventstore import LedgerStore
from domain.aggregates import fold
from domain.events import Recorded

S = TypeVar("S")


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
    return fold(aggregate_type, aggregate_id, (e.fact for e in events))


@overload
def load(store: LedgerStore, kind: type[S], aggregate_id: str | None) -> S | None: ...
@overload
def load(store: LedgerStore, kind: str, aggregate_id: str | None) -> Any: ...
def load(store: LedgerStore, kind: type[S] | str, aggregate_id: str | None) -> Any:
    """The aggregate's current state, or None when there is no such stream of that kind (the one
    load path of `adapters.aggregates`, through the process cache)."""
    found = try_load(store, kind, aggregate_id) if aggregate_id else None
    return found.state if found is not None else None


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
