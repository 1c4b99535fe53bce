"""The due-timer index: one row per pending timer, keyed by when it is due.

A tracking projection (its rows and its log position commit together), so the timer worker finds
what is due with one indexed range read instead of scanning streams. The index only *finds*
timers: whether one may fire is decided on its stream (expected version 2), so a row that lags
the log (a timer just fired elsewhere) costs one read, never a second firing.
Times are stored as UTC ISO-8601 text, which sorts correctly on both engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.events import Recorded
from domain.timers import TimerScheduled
from projections.db import Cursor, ViewDatabase

TABLE = "due_timers"


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class DueTimer:
    timer_id: str
    organization_id: str
    purpose: str
    key: str
    stream_type: str
    stream_id: str
    due_at: datetime


class DueTimers:
    name = "due_timers"
    topics: tuple[str, ...] = ("TimerScheduled", "TimerFired", "TimerCanceled")

    def schema(self) -> Sequence[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            " timer_id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, purpose TEXT NOT NULL,"
            " key TEXT NOT NULL, stream_type TEXT NOT NULL, stream_id TEXT NOT NULL, due_at TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_due ON {TABLE} (due_at)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_stream ON {TABLE} (stream_id)",
        ]

    def apply(self, cursor: Cursor, event: Recorded, position: int) -> None:
        self.apply_page(cursor, [(event, position)])

    def apply_page(self, cursor: Cursor, events: Sequence[tuple[Recorded, int]]) -> None:
        # Net effect of the page: a timer scheduled and fired within it never touches the table.
        added: dict[str, tuple[str, ...]] = {}
        removed: list[str] = []
        for event, _ in events:
            timer_id = str(event.originator_id)
            fact = event.fact
            if isinstance(fact, TimerScheduled):
                added[timer_id] = (
                    timer_id,
                    event.meta.organization_id,
                    fact.purpose,
                    fact.key,
                    fact.stream_type,
                    fact.stream_id,
                    utc_text(fact.due_at),
                )
            elif added.pop(timer_id, None) is None:
                removed.append(timer_id)
        if added:
            cursor.executemany(
                f"INSERT INTO {TABLE} (timer_id, organization_id, purpose, key, stream_type, stream_id,"  # noqa: S608
                " due_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (timer_id) DO NOTHING",
                list(added.values()),
            )
        for first in range(0, len(removed), 500):  # one statement per 500 rows, not one per row
            chunk = removed[first : first + 500]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"DELETE FROM {TABLE} WHERE timer_id IN ({marks})", chunk)  # noqa: S608


_COLUMNS = "timer_id, organization_id, purpose, key, stream_type, stream_id, due_at"


def _row(row: tuple[object, ...]) -> DueTimer:
    return DueTimer(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        str(row[4]),
        str(row[5]),
        datetime.fromisoformat(str(row[6])),
    )


def due_timers(cursor: Cursor, now: datetime, limit: int, *, claim: bool = False) -> list[DueTimer]:
    """The earliest pending timers due at `now` or before.

    With `claim` (PostgreSQL) the rows stay locked until the caller's transaction ends and rows
    another transaction holds are skipped: concurrent workers take disjoint pages.
    """
    lock = " FOR UPDATE SKIP LOCKED" if claim else ""
    cursor.execute(
        f"SELECT {_COLUMNS} FROM {TABLE} WHERE due_at <= %s ORDER BY due_at, timer_id LIMIT %s{lock}",  # noqa: S608
        (utc_text(now), limit),
    )
    return [_row(r) for r in cursor.fetchall()]


def next_due_at(db: ViewDatabase) -> datetime | None:
    with db.transaction() as cursor:
        cursor.execute(f"SELECT MIN(due_at) FROM {TABLE}")  # noqa: S608
        row = cursor.fetchone()
    return datetime.fromisoformat(str(row[0])) if row and row[0] is not None else None


def overdue_timers(
    db: ViewDatabase, organization_id: str, before: datetime, limit: int = 100
) -> tuple[list[DueTimer], int]:
    """Pending timers that should have fired before `before` (the worker is down or failing)."""
    with db.transaction() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {TABLE} WHERE organization_id = %s AND due_at < %s",  # noqa: S608
            (organization_id, utc_text(before)),
        )
        total_row = cursor.fetchone()
        cursor.execute(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE organization_id = %s AND due_at < %s"  # noqa: S608
            " ORDER BY due_at LIMIT %s",
            (organization_id, utc_text(before), limit),
        )
        rows = [_row(r) for r in cursor.fetchall()]
    return rows, int(total_row[0]) if total_row else 0


def pending_for_stream(db: ViewDatabase, stream_id: str) -> list[DueTimer]:
    with db.transaction() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE stream_id = %s ORDER BY due_at",  # noqa: S608
            (stream_id,),
        )
        return [_row(r) for r in cursor.fetchall()]
