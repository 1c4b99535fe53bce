"""Projections that need whole aggregates (an order's status needs every fact of the order).

A `StateCache` keeps the folded state of the aggregates a projection reads, evolved by the very events
it applies, so a page of events folds in memory instead of re-reading streams. It is only trusted while
this instance applied every page since it filled it: `before_page` clears it when the tracked position
is not where this instance left it (another process applied a page, or a page rolled back). A miss
reads the stream from the store, up to the version just before the event being applied.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from adapters.aggregates import try_load
from adapters.eventlog import positions_of
from adapters.eventstore import LedgerStore
from domain.aggregates import EVOLVERS
from domain.events import Recorded, all_event_types, fact_class
from projections.db import Cursor


def topics_of(*aggregate_types: str) -> tuple[str, ...]:
    return tuple(t for t in all_event_types() if fact_class(t).AGGREGATE in aggregate_types)


class StateCache:
    """Folded aggregates as of the position being applied, never ahead of it.

    `since` is the position from which the cache has seen every event of its types: starting from 0
    (a rebuild), an aggregate it never saw does not exist yet; otherwise (after a restart or an
    eviction) a miss reads the stream and keeps only the events at or before the current position.
    """

    def __init__(self, store: LedgerStore, capacity: int = 200_000) -> None:
        self.store = store
        self.capacity = capacity
        self.since = 0
        self.position = 0
        self._states: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._evicted: set[str] = set()

    def clear(self, since: int) -> None:
        self._states.clear()
        self._evicted.clear()
        self.since = since

    def evolve(self, event: Recorded, position: int) -> tuple[Any, Any]:
        """(state before, state after) this event."""
        self.position = position
        key, version = str(event.originator_id), event.originator_version
        cached = self._states.get(key)
        if version == 1:
            before = None
        elif cached is not None and cached[0] == version - 1:
            before = cached[1]
        else:
            before = self._load(event.aggregate_type, event.originator_id, version - 1)[1]
        after = EVOLVERS[event.aggregate_type](before, event.fact, key)
        self._put(key, version, after)
        return before, after

    def get(self, aggregate_type: str, aggregate_id: str | None) -> Any:
        """The aggregate as of the current position; None when it does not exist (yet)."""
        if not aggregate_id:
            return None
        cached = self._states.get(aggregate_id)
        if cached is not None:
            self._states.move_to_end(aggregate_id)
            return cached[1]
        if self.since == 0 and aggregate_id not in self._evicted:
            return None  # seen every event from the first: it has none yet
        try:
            uid = UUID(aggregate_id)
        except ValueError:
            return None
        events = self.store.stream(uid)
        if events:
            where = positions_of(self.store, [uid])
            events = [e for e in events if where.get((uid, e.originator_version), 0) <= self.position]
        if not events or events[0].aggregate_type != aggregate_type:
            return None
        state = _fold(aggregate_type, aggregate_id, events)
        self._put(aggregate_id, events[-1].originator_version, state)
        return state

    def _load(self, aggregate_type: str, uid: UUID, up_to: int | None) -> tuple[int, Any]:
        found = try_load(self.store, aggregate_type, uid, up_to_version=up_to)  # the one load path
        return (found.version, found.state) if found is not None else (0, None)

    def _put(self, key: str, version: int, state: Any) -> None:
        self._states[key] = (version, state)
        self._states.move_to_end(key)
        while len(self._states) > self.capacity:
            evicted, _ = self._states.popitem(last=False)
            self._evicted.add(evicted)


def _fold(aggregate_type: str, key: str, events: Sequence[Recorded]) -> Any:
    evolve, state = EVOLVERS[aggregate_type], None
    for e in events:
        state = evolve(state, e.fact, key)
    return state


class OrderRowProjection:
    """Base for read models with one row per order, recomputed from folded state after each page.

    Subclasses set `name`, `view`, `aggregates`, `columns` (after `order_id`) and implement
    `row(order_id)` (None deletes the row) and optionally `affected(event, before, after)`.
    """

    name: str
    view: str
    aggregates: tuple[str, ...] = ("order",)
    columns: tuple[tuple[str, str], ...] = ()  # (name, SQL type)
    indexes: tuple[str, ...] = ()  # column lists, e.g. "patient_id, status"
    compare_ignores: tuple[str, ...] = ("position",)  # columns a drift check does not compare
    upsert_overrides: dict[str, str] = {}  # column -> SQL expression for ON CONFLICT DO UPDATE

    def __init__(self, store: LedgerStore, table: str | None = None) -> None:
        self.store = store
        self.table = table or f"{self.view}_g1"
        self.topics = topics_of(*self.aggregates)
        self.cache = StateCache(store)
        self._position: int | None = None

    def with_table(self, table: str) -> OrderRowProjection:
        return type(self)(self.store, table)

    @property
    def column_names(self) -> list[str]:
        return ["order_id", *(c for c, _ in self.columns), "position"]

    def schema(self) -> Sequence[str]:
        cols = ", ".join(f"{c} {t}" for c, t in self.columns)
        ddl = [
            f"CREATE TABLE IF NOT EXISTS {self.table}"
            f" (order_id TEXT PRIMARY KEY, {cols}, position BIGINT NOT NULL)"
        ]
        for i, idx in enumerate(self.indexes):
            ddl.append(f"CREATE INDEX IF NOT EXISTS {self.table}_i{i} ON {self.table} ({idx})")
        return ddl

    # --- paging hooks (see projections.runner) ---
    def before_page(self, after: int) -> None:
        if self._position != after:
            self.cache.clear(since=after)
        self._position = None  # unknown until the page commits its new position

    def after_page(self, position: int) -> None:
        self._position = position

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        self.apply_page(cursor, [(event, position)])

    def apply_page(self, cursor: Cursor, events: Sequence[tuple[Recorded, int]]) -> None:
        touched: dict[str, tuple[int, Recorded]] = {}
        for event, position in events:
            before, after = self.cache.evolve(event, position)
            for order_id in self.affected(event, before, after):
                touched[order_id] = (position, event)
                self.observe(order_id, event, before, after)
        upserts, deletes = [], []
        for order_id, (position, event) in touched.items():
            values = self.row(order_id, event)
            if values is None:
                deletes.append((order_id,))
            else:
                upserts.append((order_id, *values, position))
        self.page_done()
        if deletes:
            cursor.executemany(f"DELETE FROM {self.table} WHERE order_id = %s", deletes)  # noqa: S608
        if upserts:
            names = self.column_names
            sets = ", ".join(f"{c} = {self.upsert_overrides.get(c, 'excluded.' + c)}" for c in names[1:])
            conflict = f" ON CONFLICT (order_id) DO UPDATE SET {sets}"
            if hasattr(cursor, "copy"):  # PostgreSQL: COPY the page's rows, then one upsert statement
                scratch = f"page_{self.table}"
                cursor.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {scratch} (LIKE {self.table}) ON COMMIT DELETE ROWS"
                )
                with cursor.copy(f"COPY {scratch} ({', '.join(names)}) FROM STDIN") as copy:
                    for values in upserts:
                        copy.write_row(values)
                cursor.execute(
                    f"INSERT INTO {self.table} AS t ({', '.join(names)})"  # noqa: S608
                    f" SELECT {', '.join(names)} FROM {scratch}{conflict}"
                )
            else:
                cursor.executemany(
                    f"INSERT INTO {self.table} AS t ({', '.join(names)})"  # noqa: S608
                    f" VALUES ({', '.join(['%s'] * len(names))}){conflict}",
                    upserts,
                )

    def affected(self, event: Recorded, before: Any, after: Any) -> Iterable[str]:
        return [str(event.originator_id)] if event.aggregate_type == "order" else []

    def observe(self, order_id: str, event: Recorded, before: Any, after: Any) -> None:
        """Called for each (affected order, event) in page order; subclasses note transitions here."""

    def page_done(self) -> None:
        """Called once the page's rows are computed."""

    def row(self, order_id: str, last: Recorded) -> tuple[Any, ...] | None:
        """The row's values after the page (`last`: the latest event that touched it), None to delete."""
        raise NotImplementedError


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
