"""Catch a projection up with the event log: a page of events and the tracking position are
applied in one transaction, so a crash mid-page loses nothing and applies nothing twice.

Callers that need to read their own writes call `catch_up` before querying; background workers
call it in a loop. Two callers never apply the same page: on PostgreSQL the tracking row is
locked (`FOR UPDATE`) for the transaction, on SQLite the single writer lock does the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from adapters.eventstore import LedgerStore, decode_notification
from domain.events import Recorded
from projections.db import Cursor, ViewDatabase

TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_tracking ("
    " name TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT)"
)


class Projection(Protocol):
    name: str
    topics: tuple[str, ...]  # event types it reads; empty means every type

    def schema(self) -> Sequence[str]: ...
    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None: ...


def ensure_schema(db: ViewDatabase, projections: Sequence[Projection]) -> None:
    with db.transaction() as cursor:
        cursor.execute(TRACKING_DDL)
        for projection in projections:
            for ddl in projection.schema():
                cursor.execute(ddl)
            cursor.execute("INSERT INTO projection_tracking (name, position) VALUES (%s, 0) "
                           "ON CONFLICT (name) DO NOTHING", (projection.name,))


def position_of(db: ViewDatabase, name: str) -> int:
    with db.transaction() as cursor:
        cursor.execute("SELECT position FROM projection_tracking WHERE name = %s", (name,))
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def catch_up(store: LedgerStore, db: ViewDatabase, projection: Projection, *, page: int = 500,
             max_pages: int | None = None) -> int:
    """Apply every event after the tracked position; returns how many were applied."""
    applied = pages = 0
    lock = " FOR UPDATE" if db.kind == "postgres" else ""
    while max_pages is None or pages < max_pages:
        with db.transaction() as cursor:
            cursor.execute(f"SELECT position FROM projection_tracking WHERE name = %s{lock}",  # noqa: S608
                           (projection.name,))
            row = cursor.fetchone()
            after = int(row[0]) if row else 0
            batch = store.notifications(after, page, projection.topics)
            for notification in batch:
                projection.apply(cursor, decode_notification(notification), notification.id)
            if batch:
                cursor.execute("UPDATE projection_tracking SET position = %s WHERE name = %s",
                               (batch[-1].id, projection.name))
        applied += len(batch)
        pages += 1
        if len(batch) < page:
            break
    return applied
