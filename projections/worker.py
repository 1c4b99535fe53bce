"""The projection worker: keeps every projection caught up, on either store, in a background thread.

- SQLite (the embedded default, one process): pages from each projection's tracked position, polling
  at a short interval, because SQLite applications cannot be subscribed to.
- PostgreSQL: sleeps on LISTEN for the channel the library NOTIFYs in every inserting transaction, with
  the poll interval as a safety net; only one worker per projection is active across all processes:
  it holds a session-level advisory lock named after the projection, the others stand by and retry.
Pages are applied with their tracking position in one transaction (`projections.runner.catch_up`), so a
worker killed mid-page leaves the view exactly at the last committed page.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog

from adapters import singleton
from adapters.eventlog import first_after, is_postgres, listener, pg_conninfo, wait_for_notify
from adapters.eventstore import LedgerStore
from projections.db import ViewDatabase
from projections.errors import record_error
from projections.runner import Projection, catch_up, position_of

log = structlog.get_logger(__name__)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, derived from the projection's name."""
    return singleton.advisory_key("projection", name)


@dataclass(frozen=True)
class Lag:
    name: str
    position: int
    head: int
    events_behind: int  # positions between the view and the log's head that the projection reads
    seconds_behind: float  # age of the oldest event it has not applied (0 when caught up)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position,
            "head": self.head,
            "events_behind": self.events_behind,
            "seconds_behind": self.seconds_behind,
        }


def lag_of(store: LedgerStore, db: ViewDatabase, projection: Projection, now: datetime | None = None) -> Lag:
    head = store.last_position()
    position = position_of(db, projection.name)
    nxt = first_after(store, position, tuple(projection.topics)) if position < head else None
    if nxt is None:
        return Lag(projection.name, position, head, 0, 0.0)
    occurred = datetime.fromisoformat(json.loads(nxt[1])["occurred_at"])
    behind = len(store.notifications(position, 10_000, tuple(projection.topics)))
    seconds = max(0.0, ((now or datetime.now(UTC)) - occurred).total_seconds())
    return Lag(projection.name, position, head, behind, round(seconds, 3))


class ProjectionWorker:
    def __init__(
        self,
        store: LedgerStore,
        db: ViewDatabase,
        projections: Sequence[Projection],
        *,
        page: int = 1000,
        poll_interval: float = 0.5,
    ) -> None:
        self.store, self.db, self.projections = store, db, list(projections)
        self.page, self.poll_interval = page, poll_interval
        self.postgres = is_postgres(store)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_conn: psycopg.Connection[Any] | None = None
        self.held: set[str] = set()  # projections this worker is the active one for
        self.errors = 0

    # --- one active worker per projection (PostgreSQL) ---
    def _claim(self) -> None:
        if not self.postgres:
            self.held = {p.name for p in self.projections}
            return
        if self._lock_conn is None or self._lock_conn.closed:
            self._lock_conn = psycopg.connect(autocommit=True, **pg_conninfo(self.store))
            self.held = set()
        for p in self.projections:
            if p.name not in self.held:
                row = self._lock_conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (advisory_key(p.name),)
                ).fetchone()
                if row and row[0]:
                    self.held.add(p.name)
                    log.info("projection.worker.active", projection=p.name)

    def run_once(self) -> int:
        """Catch every projection this worker holds up with the log; returns events applied."""
        self._claim()
        applied = 0
        for p in self.projections:
            if p.name in self.held:
                try:
                    applied += catch_up(self.store, self.db, p, page=self.page)
                except Exception as exc:
                    record_error(self.db, p.name, exc, datetime.now(UTC))  # shown on the ops pages
                    raise
        return applied

    def run(self) -> None:
        wake: Any = listener(self.store) if self.postgres else contextlib.nullcontext()
        with wake as conn:
            while not self._stop.is_set():
                try:
                    applied = self.run_once()
                except Exception as exc:  # keep the thread alive; the page rolled back, retry later
                    self.errors += 1
                    log.warning("projection.worker.error", error_type=type(exc).__name__)
                    applied = 0
                    self._stop.wait(min(5.0, self.poll_interval * 4))
                if applied:
                    continue
                if conn is not None:
                    wait_for_notify(conn, self.poll_interval)
                else:
                    self._stop.wait(self.poll_interval)
        self._release()

    def _release(self) -> None:
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                self._lock_conn.close()  # closing the session releases its advisory locks
        self._lock_conn, self.held = None, set()

    def start(self) -> ProjectionWorker:
        self._thread = threading.Thread(target=self.run, name="projection-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_caught_up(self, timeout: float = 10.0) -> bool:
        """For tests and the demo: until every held projection has reached the log's head."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(lag_of(self.store, self.db, p).events_behind == 0 for p in self.projections):
                return True
            time.sleep(0.05)
        return False
