"""Each projection's last error, kept in the view database so any process can show it (ops pages).

The worker that keeps a projection caught up records the error type and a short message when a page
fails (the page rolls back and is retried); the record stays, with its time, after the projection
recovers, so ops can see that it happened.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from projections.db import ViewDatabase

DDL = (
    "CREATE TABLE IF NOT EXISTS projection_errors ("
    " name TEXT PRIMARY KEY, error TEXT NOT NULL, message TEXT NOT NULL, at TEXT NOT NULL)"
)


@dataclass(frozen=True)
class LastError:
    error: str
    message: str
    at: str


def record_error(db: ViewDatabase, name: str, exc: BaseException, at: datetime) -> None:
    """Best effort: a database that is down cannot take the record either, and must not mask `exc`."""
    with contextlib.suppress(Exception), db.transaction() as cursor:
        cursor.execute(DDL)
        cursor.execute(
            "INSERT INTO projection_errors (name, error, message, at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET error = excluded.error, message = excluded.message, "
            "at = excluded.at",
            (name, type(exc).__name__, str(exc)[:300], at.isoformat()),
        )


def last_errors(db: ViewDatabase) -> dict[str, LastError]:
    with db.transaction() as cursor:
        cursor.execute(DDL)
        cursor.execute("SELECT name, error, message, at FROM projection_errors")
        rows = cursor.fetchall()
    return {str(r[0]): LastError(str(r[1]), str(r[2]), str(r[3])) for r in rows}
