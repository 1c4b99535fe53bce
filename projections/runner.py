"""Catch a projection up with the event log: a page of events and the tracking position are
applied in one transaction, so a crash mid-page loses nothing and applies nothing twice.

Callers that need to read their own writes call `catch_up` before querying; background workers
(`projections.worker`) call it in a loop. Two callers never apply the same page: on PostgreSQL the
tracking row is locked (`FOR UPDATE`) for the transaction, on SQLite the single writer lock does the same.

Optional capabilities a projection may have (duck-typed, so the plain protocol keeps working):
- `apply_page(cursor, events)` — apply a whole page at once (one upsert per row, not per event);
- `before_page(after)` — told the position a page starts from, so an in-memory cache can notice that
  someone else moved the position (or a page rolled back) and forget what it knew;
- versioned tables (`view`, `table`, `with_table(table)`) — readers query the view `view`, which points at
  one generation's table; a rebuild fills the next generation beside it and swaps the view
  (`replay.rebuild`), so the live view never goes down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from adapters.eventlog import decode_fast, is_postgres, partition_of, read_page
from adapters.eventstore import LedgerStore
from domain.events import Recorded
from projections.db import Cursor, ViewDatabase

TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_tracking ("
    " name TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT)"
)
GENERATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_generations ("
    " name TEXT PRIMARY KEY, generation INTEGER NOT NULL, table_name TEXT NOT NULL)"
)


class Projection(Protocol):
    name: str
    topics: tuple[str, ...]  # event types it reads; empty means every type

    def schema(self) -> Sequence[str]: ...
    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None: ...


def is_versioned(projection: Projection) -> bool:
    return all(hasattr(projection, a) for a in ("view", "table", "with_table"))


def generation_table(view: str, generation: int) -> str:
    return f"{view}_g{generation}"


def relation_kind(cursor: Cursor, kind: str, name: str) -> str | None:
    """'table', 'view' or None: what a name denotes in the views database."""
    if kind == "postgres":
        cursor.execute(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = %s AND n.nspname = current_schema()",
            (name,),
        )
        row = cursor.fetchone()
        return None if row is None else {"r": "table", "v": "view"}.get(str(row[0]), "other")
    cursor.execute("SELECT type FROM sqlite_master WHERE name = %s AND type IN ('table', 'view')", (name,))
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def point_view(cursor: Cursor, kind: str, view: str, table: str) -> None:
    """(Re)create the readers' view over one generation's table, inside the caller's transaction."""
    cursor.execute(f"DROP VIEW IF EXISTS {view}")
    cursor.execute(f"CREATE VIEW {view} AS SELECT * FROM {table}")  # noqa: S608


def _active_generation(cursor: Cursor, kind: str, projection: Any) -> str:
    """The table the view points at; creates generation 1 (or adopts a pre-versioning table as 0)."""
    cursor.execute("SELECT table_name FROM projection_generations WHERE name = %s", (projection.name,))
    row = cursor.fetchone()
    if row is not None:
        return str(row[0])
    generation = 1
    if relation_kind(cursor, kind, projection.view) == "table":
        # A read model from before versioning: keep its rows as generation 0 instead of refilling.
        generation = 0
        cursor.execute(f"ALTER TABLE {projection.view} RENAME TO {generation_table(projection.view, 0)}")
    table = generation_table(projection.view, generation)
    cursor.execute(
        "INSERT INTO projection_generations (name, generation, table_name) VALUES (%s, %s, %s)",
        (projection.name, generation, table),
    )
    return table


def ensure_schema(db: ViewDatabase, projections: Sequence[Projection]) -> None:
    with db.transaction() as cursor:
        cursor.execute(TRACKING_DDL)
        cursor.execute(GENERATIONS_DDL)
        for projection in projections:
            if is_versioned(projection):
                table = _active_generation(cursor, db.kind, projection)
                for ddl in projection.with_table(table).schema():  # type: ignore[attr-defined]
                    cursor.execute(ddl)
                if relation_kind(cursor, db.kind, projection.view) is None:  # type: ignore[attr-defined]
                    point_view(cursor, db.kind, projection.view, table)  # type: ignore[attr-defined]
            else:
                for ddl in projection.schema():
                    cursor.execute(ddl)
            cursor.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (projection.name,),
            )


def position_of(db: ViewDatabase, name: str) -> int:
    with db.transaction() as cursor:
        cursor.execute("SELECT position FROM projection_tracking WHERE name = %s", (name,))
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def live_variant(cursor: Cursor, projection: Projection) -> Projection:
    """The projection writing to the generation its view points at now (a rebuild may have swapped it)."""
    if not is_versioned(projection):
        return projection
    cursor.execute("SELECT table_name FROM projection_generations WHERE name = %s", (projection.name,))
    row = cursor.fetchone()
    table = str(row[0]) if row else projection.table  # type: ignore[attr-defined]
    if table == projection.table:  # type: ignore[attr-defined]
        return projection
    variants: dict[str, Projection] = projection.__dict__.setdefault("_variants", {})
    if table not in variants:
        variants[table] = projection.with_table(table)  # type: ignore[attr-defined]
    return variants[table]


def lock_position(cursor: Cursor, kind: str, tracking: str) -> int:
    """Read (and on PostgreSQL lock until commit) a tracking position; creates it at 0."""
    lock = " FOR UPDATE" if kind == "postgres" else ""
    cursor.execute(f"SELECT position FROM projection_tracking WHERE name = %s{lock}", (tracking,))  # noqa: S608
    row = cursor.fetchone()
    if row is None:
        cursor.execute("INSERT INTO projection_tracking (name, position) VALUES (%s, 0)", (tracking,))
        return 0
    return int(row[0])


def apply_page(
    cursor: Cursor,
    store: LedgerStore,
    projection: Projection,
    tracking: str,
    *,
    page: int,
    kind: str,
    stop: int | None = None,
    live: bool = False,
) -> tuple[int, bool]:
    """Apply one page after the tracked position, inside the caller's transaction.

    `live`: apply to the generation the view points at *after* taking the lock (a rebuild may have
    swapped it while this caller waited). Returns (events applied, whether the log is exhausted up to
    `stop` or the head)."""
    after = lock_position(cursor, kind, tracking)
    if live:
        projection = live_variant(cursor, projection)
    # Read the head first: the library commits positions in order, so a short page proves that no
    # event the projection reads lies between the last one returned and this head.
    head = store.last_position() if stop is None else stop
    if after >= head:
        return 0, True
    hook = getattr(projection, "before_page", None)
    if hook is not None:
        hook(after)
    part = getattr(projection, "partition", None)  # (k, n): a parallel rebuild's share, by aggregate id
    if is_postgres(store):
        batch, covered = read_page(store, after, page, tuple(projection.topics), stop=head, partition=part)
    else:
        scanned = [n for n in store.notifications(after, page, projection.topics) if n.id <= head]
        covered = head if len(scanned) < page else scanned[-1].id
        batch = (
            scanned
            if part is None
            else [n for n in scanned if partition_of(_as_uuid(n.originator_id), part[1]) == part[0]]
        )
    events = [(decode_fast(n), n.id) for n in batch]
    many = getattr(projection, "apply_page", None)
    if many is not None:
        many(cursor, events)
    else:
        for event, position in events:
            projection.apply(cursor, event, position)
    exhausted = covered >= head
    new_position = covered
    after_hook = getattr(projection, "after_page", None)
    if after_hook is not None:
        after_hook(new_position)
    cursor.execute("UPDATE projection_tracking SET position = %s WHERE name = %s", (new_position, tracking))
    return len(events), exhausted


def _as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def catch_up(
    store: LedgerStore,
    db: ViewDatabase,
    projection: Projection,
    *,
    page: int = 500,
    max_pages: int | None = None,
    stop: int | None = None,
    tracking: str | None = None,
) -> int:
    """Apply every event after the tracked position (up to `stop`); returns how many were applied."""
    applied = pages = 0
    while max_pages is None or pages < max_pages:
        with db.transaction() as cursor:
            count, exhausted = apply_page(
                cursor,
                store,
                projection,
                tracking or projection.name,
                page=page,
                kind=db.kind,
                stop=stop,
                live=tracking is None,
            )
        applied += count
        pages += 1
        if exhausted:
            break
    return applied
