"""Where read models live: a SQLite file beside the event store, or the PostgreSQL database.

Projections write plain SQL with `%s` placeholders and `ON CONFLICT … DO UPDATE` upserts, which
both engines accept; this module hides the two drivers behind one `transaction()`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool

Row = tuple[Any, ...]


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...


class ViewDatabase(Protocol):
    kind: str

    def transaction(self) -> Any: ...  # a context manager yielding a Cursor
    def close(self) -> None: ...


class _SqliteCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("%s", "?"), tuple(params))

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("%s", "?"), [tuple(p) for p in params])

    def fetchone(self) -> Row | None:
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    def fetchall(self) -> list[Row]:
        return [tuple(r) for r in self._cursor.fetchall()]


class SqliteViews:
    kind = "sqlite"

    def __init__(self, path: str) -> None:
        # One connection, serialised by a lock: SQLite has one writer anyway.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[_SqliteCursor]:
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteCursor(cursor)
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


class PostgresViews:
    kind = "postgres"

    def __init__(self, conninfo: str, *, max_size: int = 8) -> None:
        self.conninfo = conninfo
        self.pool = ConnectionPool(
            conninfo, min_size=1, max_size=max_size, open=True, kwargs={"autocommit": False}
        )

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield cursor

    def close(self) -> None:
        self.pool.close()
