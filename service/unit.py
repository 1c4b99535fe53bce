"""The unit of work: load aggregates by folding their streams, collect new facts, commit once.

Every fact is wrapped here with who caused it and why (actor, correlation, causation), the
organization it belongs to, the time and an event id handed in from outside the domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from adapters.eventstore import LedgerStore
from domain.aggregates import fold
from domain.errors import NotFound
from domain.events import Actor, Fact, Meta, Recorded

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """Who is acting and in which causal chain; bound once per request or policy run."""

    actor: Actor
    organization_id: str
    correlation_id: str
    causation_id: str

    def caused_by(self, causation_id: str) -> Context:
        return Context(self.actor, self.organization_id, self.correlation_id, causation_id)

    def as_actor(self, actor: Actor) -> Context:
        return Context(actor, self.organization_id, self.correlation_id, self.causation_id)


@dataclass
class Loaded:
    aggregate_type: str
    id: UUID
    version: int
    state: Any
    organization_id: str | None


def load(
    store: LedgerStore, aggregate_type: str, aggregate_id: UUID | str, *, up_to_version: int | None = None
) -> Loaded:
    uid = aggregate_id if isinstance(aggregate_id, UUID) else _as_uuid(aggregate_id)
    events = store.stream(uid, up_to_version=up_to_version) if uid else []
    if not events or events[0].aggregate_type != aggregate_type:
        raise NotFound(f"No such {aggregate_type.replace('_', ' ')}.")
    assert uid is not None
    state = fold(aggregate_type, str(uid), (e.fact for e in events))
    return Loaded(aggregate_type, uid, events[-1].originator_version, state, events[0].meta.organization_id)


def try_load(store: LedgerStore, aggregate_type: str, aggregate_id: UUID | str) -> Loaded | None:
    try:
        return load(store, aggregate_type, aggregate_id)
    except NotFound:
        return None


def load_owned(store: LedgerStore, ctx: Context, aggregate_type: str, aggregate_id: UUID | str) -> Loaded:
    """Load an aggregate of the caller's organization; another organization's is simply not found."""
    loaded = load(store, aggregate_type, aggregate_id)
    if loaded.organization_id != ctx.organization_id:
        raise NotFound(f"No such {aggregate_type.replace('_', ' ')}.")
    return loaded


def _as_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


@dataclass
class Batch:
    """Facts to append in one transaction, each at the version its stream was read at + 1."""

    ctx: Context
    now: datetime
    new_event_id: Callable[[], UUID] = uuid4
    events: list[Recorded] = field(default_factory=list)
    _next_version: dict[UUID, int] = field(default_factory=dict)

    def add(self, aggregate_id: UUID, read_version: int, *facts: Fact) -> None:
        version = self._next_version.get(aggregate_id, read_version)
        for fact in facts:
            version += 1
            meta = Meta(
                self.new_event_id(),
                self.ctx.organization_id,
                self.now,
                self.ctx.actor,
                self.ctx.correlation_id,
                self.ctx.causation_id,
            )
            self.events.append(Recorded(aggregate_id, version, fact, meta))
        self._next_version[aggregate_id] = version

    def extend(self, loaded: Loaded, *facts: Fact) -> None:
        self.add(loaded.id, loaded.version, *facts)

    def start(self, aggregate_id: UUID, *facts: Fact) -> None:
        self.add(aggregate_id, 0, *facts)

    def commit(self, store: LedgerStore) -> int:
        if not self.events:
            return store.last_position()
        return store.append(self.events)
