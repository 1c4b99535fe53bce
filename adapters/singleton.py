"""One active instance of a background job across processes, woken by commits rather than polling.

Background work (the policy worker, the sealer, the NATS relay) may run in several processes at once
— two `ledger worker`s for failover — but only one of each should act at a time:
- PostgreSQL: the active one holds a session-level advisory lock named after the job on a connection
  of its own; the others stand by and retry. Closing (or losing) that session releases the lock, so a
  killed worker's job moves to a stand-by within one retry interval. The job sleeps on LISTEN for the
  channel the event store NOTIFYs in every inserting transaction, with the poll interval as a safety net.
- SQLite (one process): nothing to lock; the job is woken by this process's own commits.
Every job is idempotent on its own (tracked positions, idempotent effects), so the lock is about not
doing the work twice, never about correctness.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import structlog

from adapters.eventlog import is_postgres, listener, pg_conninfo, wait_for_notify
from adapters.eventstore import LedgerStore

log = structlog.get_logger(__name__)


def advisory_key(namespace: str, name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, derived from a job's namespace and name."""
    return int.from_bytes(
        hashlib.blake2b(f"{namespace}:{name}".encode(), digest_size=8).digest(), "big", signed=True
    )


@contextmanager
def startup_lock(conninfo: str | None) -> Iterator[None]:
    """Serialise start-up across processes on PostgreSQL: `CREATE TABLE IF NOT EXISTS` run by two at once
    (a `ledger serve` and a `ledger worker` starting on a fresh database) fails on pg_type's unique index."""
    if conninfo is None:
        yield
        return
    key = advisory_key("ledger", "startup")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


class AdvisoryLease:
    """A session-level advisory lock on a connection of its own (PostgreSQL); always held on SQLite."""

    def __init__(self, store: LedgerStore, name: str, namespace: str = "worker") -> None:
        self.store, self.name = store, name
        self.key = advisory_key(namespace, name)
        self.postgres = is_postgres(store)
        self._conn: psycopg.Connection[Any] | None = None
        self.held = not self.postgres

    def claim(self) -> bool:
        """True when this process is the active one (claiming the lock if it is free)."""
        if not self.postgres:
            return True
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(autocommit=True, **pg_conninfo(self.store))
                self.held = False
            if self.held:
                self._conn.execute("SELECT 1")  # a lost session has lost its lock: find out now
                return True
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            self.held = bool(row and row[0])
            if self.held:
                log.info("worker.active", job=self.name)
        except psycopg.Error as exc:
            log.warning("worker.lease_lost", job=self.name, error_type=type(exc).__name__)
            self.release()
        return self.held

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # closing the session releases its advisory locks
        self._conn = None
        self.held = not self.postgres


class SingletonLoop:
    """Runs `step` (returns how much it did) in a daemon thread while this process holds the job's lease;
    sleeps until a commit (NOTIFY on PostgreSQL, `wake_on` hooks on SQLite) or `poll` seconds pass."""

    def __init__(
        self,
        name: str,
        store: LedgerStore,
        step: Callable[[], int],
        *,
        poll: float = 0.5,
        standby_retry: float = 1.0,
        wake_on: list[Callable[[int], None]] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.name, self.store, self.step = name, store, step
        self.poll, self.standby_retry, self.on_stop = poll, standby_retry, on_stop
        self.lease = AdvisoryLease(store, name)
        self.errors = 0
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        if wake_on is not None and not self.lease.postgres:
            wake_on.append(lambda _position: self._wake.set())

    def start(self) -> SingletonLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _sleep(self, conn: Any, seconds: float) -> None:
        if conn is None:
            self._wake.wait(seconds)
            self._wake.clear()
        else:
            wait_for_notify(conn, seconds)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._serve()
            except psycopg.Error as exc:  # the LISTEN session broke (database restart): start again
                self.errors += 1
                log.warning("worker.listen_failed", job=self.name, error_type=type(exc).__name__)
                self.lease.release()
                self._stop.wait(self.standby_retry)
        self.lease.release()
        if self.on_stop is not None:
            with contextlib.suppress(Exception):
                self.on_stop()

    def _serve(self) -> None:
        wake: Any = listener(self.store) if self.lease.postgres else contextlib.nullcontext()
        with wake as conn:
            backoff = self.poll
            while not self._stop.is_set():
                if not self.lease.claim():
                    self._stop.wait(self.standby_retry)  # stand by; the active one may go away
                    continue
                try:
                    done = self.step()
                    backoff = self.poll
                except Exception as exc:  # keep the job alive; its work rolled back, retry later
                    self.errors += 1
                    log.warning("worker.step_failed", job=self.name, error_type=type(exc).__name__)
                    done, backoff = 0, min(backoff * 2, 30.0)
                if not done:
                    self._sleep(conn, backoff)
