"""Loading aggregates by their state's type, through a per-process cache validated by version.

`load(store, Order, id) -> Loaded[Order]` is the one load path `service/`, `replay/` and `projections/`
share: the aggregate is named by its state's type (`domain.aggregates` knows which stream type that
is), so no caller needs an `isinstance` to get its type back.

The cache keeps folded aggregates per process.
A hit is never trusted as it stands: the reader asks the store for the stream's events *after* the
cached version (one indexed query that usually returns nothing) and folds any it gets onto the
cached state. So another process's writes are never missed, and a hit costs no JSON decoding and no
fold of the whole history. Commits put the states they produced (`Batch.commit`), so the next request
for an aggregate this process just wrote finds it at its head. States are immutable values (frozen
dataclasses), so one cached state can be shared by every thread.

Hit rate and size are counted (`stats()`), logged every `LOG_EVERY` loads and served by `/healthz`.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload
from uuid import UUID

import structlog

from adapters.eventstore import LedgerStore
from domain.aggregates import aggregate_type_of, evolver
from domain.errors import NotFound
from domain.events import Fact, Recorded

S = TypeVar("S")
MAX_ENTRIES = 100_000  # ~1-2 KB a state: bounded well under a process's memory
LOG_EVERY = 10_000

log = structlog.get_logger("aggregate_cache")


@dataclass(frozen=True)
class Loaded(Generic[S]):
    """An aggregate's state at a version: what a unit of work decides on and appends after."""

    aggregate_type: str
    id: UUID
    version: int
    state: S
    organization_id: str | None

    def evolved(self, facts: Iterable[Fact], version: int) -> Loaded[S]:
        """This state with more facts of the same stream folded on, now at `version`."""
        state: Any = self.state
        for fact in facts:
            state = evolver(self.aggregate_type)(state, fact, str(self.id))
        return Loaded(self.aggregate_type, self.id, version, state, self.organization_id)


def fold_stream(events: Sequence[Recorded]) -> Loaded[Any]:
    """The state a whole stream (non-empty, from version 1) folds to."""
    first = events[0]
    empty: Loaded[Any] = Loaded(
        first.aggregate_type, first.originator_id, 0, None, first.meta.organization_id
    )
    return empty.evolved((e.fact for e in events), events[-1].originator_version)


class AggregateCache:
    """Least-recently-used states by aggregate id; thread-safe; one per store per process."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[UUID, Loaded[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = self.misses = self.caught_up = 0  # caught_up: hits that found newer events

    def read(self, store: LedgerStore, aggregate_id: UUID) -> Loaded[Any] | None:
        """The aggregate at the store's head (None when the stream is empty): one stream read."""
        cached = self.peek(aggregate_id)
        if cached is None:
            events = store.stream(aggregate_id)
            self._count(hit=False, newer=False)
            if not events:
                return None  # absence is not cached: the stream may start at any moment
            return self.put(fold_stream(events))
        newer = store.stream(aggregate_id, after_version=cached.version)
        self._count(hit=True, newer=bool(newer))
        if not newer:
            return cached
        return self.put(cached.evolved((e.fact for e in newer), newer[-1].originator_version))

    def peek(self, aggregate_id: UUID) -> Loaded[Any] | None:
        with self._lock:
            found = self._entries.get(aggregate_id)
            if found is not None:
                self._entries.move_to_end(aggregate_id)
            return found

    def put(self, loaded: Loaded[S]) -> Loaded[S]:
        """Keep `loaded` unless a newer version of it is already here (a faster thread put it)."""
        with self._lock:
            current = self._entries.get(loaded.id)
            if current is None or current.version < loaded.version:
                self._entries[loaded.id] = loaded
                self._entries.move_to_end(loaded.id)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return loaded

    def forget(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._entries.pop(aggregate_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> dict[str, float | int]:
        with self._lock:
            loads = self.hits + self.misses
            return {
                "entries": len(self._entries),
                "hits": self.hits,
                "misses": self.misses,
                "caught_up": self.caught_up,
                "hit_rate": round(self.hits / loads, 4) if loads else 0.0,
            }

    def _count(self, *, hit: bool, newer: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
                self.caught_up += int(newer)
            else:
                self.misses += 1
            loads = self.hits + self.misses
        if loads % LOG_EVERY == 0:
            log.info("aggregate_cache.stats", **self.stats())


_CACHES: weakref.WeakKeyDictionary[LedgerStore, AggregateCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_of(store: LedgerStore) -> AggregateCache:
    """This process's cache for this store (each store is its own database)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = AggregateCache()
        return cache


@overload
def load(
    store: LedgerStore, kind: type[S], aggregate_id: UUID | str, *, up_to_version: int | None = None
) -> Loaded[S]: ...
@overload
def load(
    store: LedgerStore, kind: str, aggregate_id: UUID | str, *, up_to_version: int | None = None
) -> Loaded[Any]: ...
def load(
    store: LedgerStore, kind: type[S] | str, aggregate_id: UUID | str, *, up_to_version: int | None = None
) -> Loaded[Any]:
    """The aggregate `kind` (a state type such as `Order`, or its stream type name) at the store's
    head, or at `up_to_version` (read in full, around the cache). NotFound when absent or another kind."""
    aggregate_type = kind if isinstance(kind, str) else aggregate_type_of(kind)
    found = try_load(store, aggregate_type, aggregate_id, up_to_version=up_to_version)
    if found is None:
        raise NotFound(f"No such {aggregate_type.replace('_', ' ')}.")
    return found


@overload
def try_load(
    store: LedgerStore, kind: type[S], aggregate_id: UUID | str, *, up_to_version: int | None = None
) -> Loaded[S] | None: ...
@overload
def try_load(
    store: LedgerStore, kind: str, aggregate_id: UUID | str, *, up_to_version: int | None = None
) -> Loaded[Any] | None: ...
def try_load(
    store: LedgerStore, kind: type[S] | str, aggregate_id: UUID | str, *, up_to_version: int | None = None
) -> Loaded[Any] | None:
    aggregate_type = kind if isinstance(kind, str) else aggregate_type_of(kind)
    uid = as_uuid(aggregate_id)
    if uid is None:
        return None
    if up_to_version is None:
        found = cache_of(store).read(store, uid)
    else:
        events = store.stream(uid, up_to_version=up_to_version)
        found = fold_stream(events) if events else None
    if found is None or found.aggregate_type != aggregate_type:
        return None
    return found


def as_uuid(value: UUID | str) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except ValueError:
        return None
