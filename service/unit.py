"""The unit of work: load aggregates by their state's type, collect new facts, commit once.

Every fact is wrapped here with who caused it and why (actor, correlation, causation), the
organization it belongs to, the time and an event id handed in from outside the domain.

Loading goes through `adapters.aggregates` (one load path for service, replay and projections,
through the per-process cache). A `Batch` remembers the state each stream was read at, so its
commit returns the evolved states (`batch.state(Order, id)`): nothing is re-read after a commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, overload
from uuid import UUID, uuid4

from adapters.aggregates import Loaded, as_uuid, cache_of, load, try_load
from adapters.eventstore import LedgerStore
from domain.aggregates import aggregate_type_of
from domain.catalog import Product
from domain.errors import NotFound
from domain.events import Actor, Fact, Meta, Recorded
from domain.invoices import Invoice
from domain.orders import Order
from domain.parties import Patient
from domain.refills import Refill

T = TypeVar("T")
S = TypeVar("S")

__all__ = ["Batch", "Context", "Kind", "Loaded", "Unit", "load", "load_owned", "try_load"]


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


@overload
def load_owned(store: LedgerStore, ctx: Context, kind: type[S], aggregate_id: UUID | str) -> Loaded[S]: ...
@overload
def load_owned(store: LedgerStore, ctx: Context, kind: str, aggregate_id: UUID | str) -> Loaded[Any]: ...
def load_owned(
    store: LedgerStore, ctx: Context, kind: type[S] | str, aggregate_id: UUID | str
) -> Loaded[Any]:
    """Load an aggregate of the caller's organization; another organization's is simply not found."""
    loaded = load(store, kind, aggregate_id)
    if loaded.organization_id != ctx.organization_id:
        raise NotFound(f"No such {loaded.aggregate_type.replace('_', ' ')}.")
    return loaded


@dataclass
class Batch:
    """Facts to append in one transaction, each at the version its stream was read at + 1.

    After `commit`, `state(Order, id)` / `loaded(Order, id)` give each written stream's new state,
    folded from the state it was read at (`extend`) or from nothing (`start`).
    """

    ctx: Context
    now: datetime
    new_event_id: Callable[[], UUID] = uuid4
    events: list[Recorded] = field(default_factory=list)
    _next_version: dict[UUID, int] = field(default_factory=dict)
    _read: dict[UUID, Loaded[Any] | None] = field(default_factory=dict)  # None: a new stream
    committed: dict[UUID, Loaded[Any]] = field(default_factory=dict)
    position: int | None = None

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

    def extend(self, loaded: Loaded[Any], *facts: Fact) -> None:
        self._read.setdefault(loaded.id, loaded)
        self.add(loaded.id, loaded.version, *facts)

    def start(self, aggregate_id: UUID, *facts: Fact) -> None:
        self._read.setdefault(aggregate_id, None)
        self.add(aggregate_id, 0, *facts)

    def commit(self, store: LedgerStore) -> int:
        if not self.events:
            self.position = store.last_position()
            return self.position
        self.position = store.append(self.events)
        self.committed = self._evolved()
        cache = cache_of(store)
        for loaded in self.committed.values():
            cache.put(loaded)  # the next reader in this process catches up from here
        return self.position

    def loaded(self, kind: type[S], aggregate_id: UUID | str) -> Loaded[S]:
        """A stream this batch wrote, at the version the commit left it (KeyError if it wrote none)."""
        uid = aggregate_id if isinstance(aggregate_id, UUID) else UUID(aggregate_id)
        found = self.committed[uid]
        if found.aggregate_type != aggregate_type_of(kind):
            raise KeyError(uid)
        return found

    def state(self, kind: type[S], aggregate_id: UUID | str) -> S:
        return self.loaded(kind, aggregate_id).state

    def _evolved(self) -> dict[UUID, Loaded[Any]]:
        grouped: dict[UUID, list[Recorded]] = {}
        for event in self.events:
            grouped.setdefault(event.originator_id, []).append(event)
        out: dict[UUID, Loaded[Any]] = {}
        for uid, events in grouped.items():
            if uid not in self._read:
                continue  # appended by `add` at a version we hold no state for
            base = self._read[uid] or Loaded(events[0].aggregate_type, uid, 0, None, self.ctx.organization_id)
            out[uid] = base.evolved((e.fact for e in events), events[-1].originator_version)
        return out


class Unit:
    """What one request has read and written, by aggregate id: each stream is read at most once.

    `uow.get(Order, id) -> Loaded[Order]` reads through the process cache the first time and from
    this unit after; `uow.orders.get(id) -> Order` is the same for the usual kinds. `commit` appends
    a batch and keeps the states it produced, so nothing is re-read after it; a commit that loses a
    race forgets the streams it wrote, and the retry reads them again (catching up from the cache).
    """

    def __init__(self, store: LedgerStore, ctx: Context | None = None) -> None:
        self.store, self.ctx = store, ctx
        self._seen: dict[UUID, Loaded[Any]] = {}

    def get(self, kind: type[S], aggregate_id: UUID | str) -> Loaded[S]:
        found = self.find(kind, aggregate_id)
        if found is None:
            raise NotFound(f"No such {aggregate_type_of(kind).replace('_', ' ')}.")
        return found

    def find(self, kind: type[S], aggregate_id: UUID | str) -> Loaded[S] | None:
        uid = aggregate_id if isinstance(aggregate_id, UUID) else as_uuid(aggregate_id)
        if uid is None:
            return None
        seen = self._seen.get(uid)
        if seen is None:
            seen = try_load(self.store, kind, uid)
            if seen is None:
                return None
            self._seen[uid] = seen
        return seen if seen.aggregate_type == aggregate_type_of(kind) else None

    def owned(self, kind: type[S], aggregate_id: UUID | str) -> Loaded[S]:
        """One of the unit's organization's aggregates; another organization's is not found."""
        found = self.get(kind, aggregate_id)
        if self.ctx is not None and found.organization_id != self.ctx.organization_id:
            raise NotFound(f"No such {found.aggregate_type.replace('_', ' ')}.")
        return found

    def seen(self, *loaded: Loaded[Any]) -> None:
        """States the caller already holds (read or written elsewhere in this request)."""
        for item in loaded:
            current = self._seen.get(item.id)
            if current is None or current.version <= item.version:
                self._seen[item.id] = item

    def forget(self, *aggregate_ids: UUID) -> None:
        for uid in aggregate_ids:
            self._seen.pop(uid, None)

    def committed(self, batch: Batch) -> None:
        self.seen(*batch.committed.values())

    def lost_race(self, batch: Batch) -> None:
        self.forget(*{e.originator_id for e in batch.events})

    @property
    def orders(self) -> Kind[Order]:
        return Kind(self, Order)

    @property
    def invoices(self) -> Kind[Invoice]:
        return Kind(self, Invoice)

    @property
    def refills(self) -> Kind[Refill]:
        return Kind(self, Refill)

    @property
    def products(self) -> Kind[Product]:
        return Kind(self, Product)

    @property
    def patients(self) -> Kind[Patient]:
        return Kind(self, Patient)


@dataclass(frozen=True)
class Kind(Generic[S]):
    """One kind of aggregate in a unit: `uow.orders.get(id) -> Order` (of the unit's organization)."""

    unit: Unit
    kind: type[S]

    def get(self, aggregate_id: UUID | str) -> S:
        return self.unit.owned(self.kind, aggregate_id).state

    def loaded(self, aggregate_id: UUID | str) -> Loaded[S]:
        return self.unit.owned(self.kind, aggregate_id)

    def find(self, aggregate_id: UUID | str) -> Loaded[S] | None:
        return self.unit.find(self.kind, aggregate_id)
