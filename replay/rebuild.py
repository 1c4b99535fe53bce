"""Rebuild a projection without downtime, and check a live view for drift.

Rebuild: the next generation's table is filled from the first event in big pages while the view still
points at the old generation (which the worker keeps applying). Once it is near the head, one
transaction locks the live tracking row (so no worker applies a page meanwhile), brings the new table to
the head, points the view at it, hands it the live tracking position and drops the old table.

Drift: a scratch generation is rebuilt from the first event; then, under the live tracking lock, both
are brought to the same head and compared row by row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.eventstore import LedgerStore
from projections.db import Cursor, ViewDatabase
from projections.runner import (
    Projection,
    apply_page,
    ensure_schema,
    generation_table,
    is_versioned,
    live_variant,
    lock_position,
    point_view,
)
from replay.parallel import can_partition, fill_partitioned


class NotRebuildable(ValueError):
    """The projection has no versioned tables, so it cannot be rebuilt beside the live one."""


@dataclass(frozen=True)
class Progress:
    phase: str  # filling | swapping | done
    done: int  # positions covered
    total: int  # the log's head when last looked at
    rate: float  # events applied per second so far
    eta_seconds: float | None


@dataclass
class RebuildResult:
    name: str
    generation: int
    table: str
    events: int
    seconds: float
    position: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


Report = Callable[[Progress], None]


def _fill(
    store: LedgerStore,
    db: ViewDatabase,
    shadow: Projection,
    tracking: str,
    page: int,
    report: Report | None,
    started: float,
) -> int:
    """Fill `shadow` page by page (one transaction each) until a page reaches the head."""
    applied = 0
    while True:
        with db.transaction() as cur:
            count, exhausted = apply_page(cur, store, shadow, tracking, page=page, kind=db.kind)
            cur.execute("SELECT position FROM projection_tracking WHERE name = %s", (tracking,))
            row = cur.fetchone()
        applied += count
        if report is not None:
            done, total = int(row[0]) if row else 0, max(store.last_position(), 1)
            elapsed = time.perf_counter() - started
            rate = applied / elapsed if elapsed else 0.0
            eta = (total - done) / (done / elapsed) if done and elapsed else None
            report(Progress("filling", done, total, rate, eta))
        if exhausted:
            return applied


def _finish(cur: Cursor, store: LedgerStore, shadow: Projection, tracking: str, page: int, kind: str) -> int:
    applied = 0
    while True:
        count, exhausted = apply_page(cur, store, shadow, tracking, page=page, kind=kind)
        applied += count
        if exhausted:
            return applied


def _fresh_table(db: ViewDatabase, projection: Any, table: str, tracking: str) -> Projection:
    shadow: Projection = projection.with_table(table)
    with db.transaction() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")  # left over by a rebuild that crashed
        for ddl in shadow.schema():
            cur.execute(ddl)
        cur.execute("DELETE FROM projection_tracking WHERE name = %s", (tracking,))
        cur.execute("INSERT INTO projection_tracking (name, position) VALUES (%s, 0)", (tracking,))
    return shadow


def rebuild(
    store: LedgerStore,
    db: ViewDatabase,
    projection: Projection,
    *,
    page: int = 5000,
    report: Report | None = None,
    workers: int = 1,
) -> RebuildResult:
    """`workers` > 1: fill with that many processes when the projection allows it (PostgreSQL only)."""
    if not is_versioned(projection):
        raise NotRebuildable(projection.name)
    ensure_schema(db, [projection])
    view: str = projection.view  # type: ignore[attr-defined]
    with db.transaction() as cur:
        cur.execute(
            "SELECT generation, table_name FROM projection_generations WHERE name = %s", (projection.name,)
        )
        row = cur.fetchone()
    assert row is not None
    generation, old_table = int(row[0]) + 1, str(row[1])
    table, tracking = generation_table(view, generation), f"{projection.name}@g{generation}"
    started = time.perf_counter()
    shadow = _fresh_table(db, projection, table, tracking)
    applied = 0
    if workers > 1 and can_partition(store, db, shadow):
        stop = store.last_position()
        applied = fill_partitioned(store, db, shadow, tracking, workers=workers, stop=stop, page=page)  # type: ignore[arg-type]
        if report is not None:
            elapsed = time.perf_counter() - started
            report(Progress("filling", stop, max(store.last_position(), 1), applied / elapsed, None))
    applied += _fill(store, db, shadow, tracking, page, report, started)
    if report is not None:
        report(Progress("swapping", store.last_position(), store.last_position(), 0.0, 0.0))
    with db.transaction() as cur:
        lock_position(cur, db.kind, projection.name)  # the live worker waits here until the swap commits
        applied += _finish(cur, store, shadow, tracking, page, db.kind)
        position = lock_position(cur, db.kind, tracking)
        point_view(cur, db.kind, view, table)
        cur.execute(
            "UPDATE projection_generations SET generation = %s, table_name = %s WHERE name = %s",
            (generation, table, projection.name),
        )
        cur.execute(
            "UPDATE projection_tracking SET position = %s WHERE name = %s", (position, projection.name)
        )
        cur.execute("DELETE FROM projection_tracking WHERE name = %s", (tracking,))
        if old_table != table:
            cur.execute(f"DROP TABLE IF EXISTS {old_table}")
    seconds = time.perf_counter() - started
    if report is not None:
        report(Progress("done", position, position, applied / seconds if seconds else 0.0, 0.0))
    return RebuildResult(projection.name, generation, table, applied, seconds, position)


@dataclass
class Drift:
    name: str
    position: int
    rows_live: int
    rows_rebuilt: int
    missing: list[str] = field(default_factory=list)  # keys the rebuild has and the live view lacks
    extra: list[str] = field(default_factory=list)  # keys only the live view has
    changed: list[dict[str, Any]] = field(default_factory=list)  # {key, column, live, rebuilt}

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position,
            "rows_live": self.rows_live,
            "rows_rebuilt": self.rows_rebuilt,
            "clean": self.clean,
            "missing": self.missing,
            "extra": self.extra,
            "changed": self.changed,
        }


def _rows(cur: Cursor, table: str, columns: list[str]) -> dict[str, tuple[Any, ...]]:
    cur.execute(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608
    return {str(r[0]): tuple(r) for r in cur.fetchall()}


def drift(
    store: LedgerStore, db: ViewDatabase, projection: Projection, *, page: int = 5000, limit: int = 100
) -> Drift:
    if not is_versioned(projection):
        raise NotRebuildable(projection.name)
    ensure_schema(db, [projection])
    view: str = projection.view  # type: ignore[attr-defined]
    table, tracking = f"{view}_drift", f"{projection.name}@drift"
    scratch = _fresh_table(db, projection, table, tracking)
    _fill(store, db, scratch, tracking, page, None, time.perf_counter())
    ignore = set(getattr(projection, "compare_ignores", ("position",)))
    columns = [c for c in projection.column_names if c not in ignore]  # type: ignore[attr-defined]
    try:
        with db.transaction() as cur:
            lock_position(cur, db.kind, projection.name)
            head = store.last_position()
            live = live_variant(cur, projection)
            while not apply_page(cur, store, live, projection.name, page=page, kind=db.kind, stop=head)[1]:
                pass
            while not apply_page(cur, store, scratch, tracking, page=page, kind=db.kind, stop=head)[1]:
                pass
            live_rows = _rows(cur, live.table, columns)  # type: ignore[attr-defined]
            rebuilt = _rows(cur, table, columns)
    finally:
        with db.transaction() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute("DELETE FROM projection_tracking WHERE name = %s", (tracking,))
    report = Drift(projection.name, head, len(live_rows), len(rebuilt))
    report.missing = sorted(set(rebuilt) - set(live_rows))[:limit]
    report.extra = sorted(set(live_rows) - set(rebuilt))[:limit]
    for key in sorted(set(live_rows) & set(rebuilt)):
        for name, a, b in zip(columns, live_rows[key], rebuilt[key], strict=True):
            if a != b and len(report.changed) < limit:
                report.changed.append({"key": key, "column": name, "live": a, "rebuilt": b})
    return report
