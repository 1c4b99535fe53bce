"""The event store: the `eventsourcing` library on SQLite or PostgreSQL, with our own mapper.

Domain facts are pydantic models, not the library's dataclasses, so the mapper (after the
library's aggregate7 example) stores each under its stable event name (`OrderPlaced`, never a
Python import path) with a JSON body holding the version, the envelope and the payload, and
upcasts old versions on the way back. One application holds every aggregate so that a refill,
its order, its invoice and the original order's link commit in one transaction.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast
from uuid import UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Tracking,
    Transcoder,
)

from domain.events import Actor, Meta, Recorded, load_fact

ID_NAMESPACE = UUID("8b5a4d0e-4f5c-4a53-9a59-7d7d0c1c9e11")


def stable_id(*parts: str) -> UUID:
    """A deterministic aggregate id, for aggregates keyed by a natural key (org id, idempotency key)."""
    return uuid5(ID_NAMESPACE, "/".join(parts))


def encode_event(event: Recorded) -> bytes:
    meta = event.meta
    body = {
        "v": event.fact.VERSION,
        "event_id": str(meta.event_id),
        "organization_id": meta.organization_id,
        "occurred_at": meta.occurred_at.isoformat(),
        "actor": {"kind": meta.actor.kind, "id": meta.actor.id},
        "correlation_id": meta.correlation_id,
        "causation_id": meta.causation_id,
        "data": event.fact.model_dump(mode="json"),
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_event(originator_id: UUID | str, originator_version: int, topic: str, state: bytes) -> Recorded:
    body: dict[str, Any] = json.loads(state)
    meta = Meta(
        event_id=UUID(body["event_id"]),
        organization_id=body["organization_id"],
        occurred_at=datetime.fromisoformat(body["occurred_at"]),
        actor=Actor.model_validate(body["actor"]),
        correlation_id=body["correlation_id"],
        causation_id=body["causation_id"],
    )
    fact = load_fact(topic, int(body["v"]), body["data"])
    oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    return Recorded(originator_id=oid, originator_version=originator_version, fact=fact, meta=meta)


class LedgerMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder) -> None:
        super().__init__(transcoder)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        assert isinstance(domain_event, Recorded)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=domain_event.fact.TYPE,
            state=encode_event(domain_event),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return decode_event(
            stored_event.originator_id,
            stored_event.originator_version,
            stored_event.topic,
            stored_event.state,
        )


class ConcurrentWrite(Exception):
    """Another writer appended to one of these streams first (expected-version check failed)."""


class LedgerStore(Application[UUID]):
    """A thin shell over the library: append facts atomically, read streams and the global log."""

    name = "Ledger"

    def construct_mapper(self) -> Mapper[UUID]:
        return LedgerMapper(self.construct_transcoder())

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder also keeps tracking records, so a policy can append the events it
        # decides together with the position it has handled, in one transaction.
        factory = self.factory
        if type(factory).__module__ == "eventsourcing.postgres" and not factory.env.get(
            factory.PROCESS_RECORDER_TOPIC
        ):
            from adapters.pg_append import one_statement_recorder  # psycopg only on PostgreSQL

            return one_statement_recorder(factory)  # type: ignore[arg-type]
        return factory.process_recorder()

    def append(self, events: Sequence[Recorded], *, tracking: tuple[str, int] | None = None) -> int:
        """Write events (and optionally a policy's tracking position) in one transaction.

        Returns the last global position written. Raises ConcurrentWrite when a stream moved on
        since it was read, or when the tracking position was already recorded (a replayed page).
        """
        track = Tracking(application_name=tracking[0], notification_id=tracking[1]) if tracking else None
        try:
            recordings = self.events.put(list(events), tracking=track)
        except IntegrityError as exc:
            raise ConcurrentWrite(str(exc)) from exc
        return max((r.notification.id for r in recordings), default=0)

    def tracked_position(self, name: str) -> int:
        recorder = self.recorder
        assert isinstance(recorder, ProcessRecorder)
        return recorder.max_tracking_id(name) or 0

    def stream(
        self, aggregate_id: UUID, *, up_to_version: int | None = None, after_version: int | None = None
    ) -> list[Recorded]:
        """The stream's events (those after `after_version` only: a cache catching up)."""
        events = self.events.get(aggregate_id, gt=after_version, lte=up_to_version)
        return [cast(Recorded, e) for e in events]

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """Run everything this thread does with the store on one pooled connection (PostgreSQL):
        a unit of work checks a connection out once instead of once per read and append."""
        pool = getattr(getattr(self.recorder, "datastore", None), "pool", None)
        if pool is None or not hasattr(pool, "connection") or getattr(_pinned, "conn", None) is not None:
            yield  # SQLite (one connection already), or already pinned by an outer unit
            return
        _pin_pool(pool)
        with pool.connection() as conn:
            _pinned.conn, _pinned.pool = conn, pool
            try:
                yield
            finally:
                _pinned.conn = _pinned.pool = None

    def notifications(self, after: int, limit: int, topics: Sequence[str] = ()) -> Sequence[Notification]:
        return self.recorder.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False
        )

    def iter_notifications(
        self, after: int = 0, page: int = 1000, topics: Sequence[str] = ()
    ) -> Iterator[Notification]:
        while True:
            batch = self.notifications(after, page, topics)
            yield from batch
            if len(batch) < page:
                return
            after = batch[-1].id

    def last_position(self) -> int:
        return self.recorder.max_notification_id() or 0


_pinned = threading.local()


def _pin_pool(pool: Any) -> None:
    """Teach a psycopg pool to hand this thread's pinned connection back while one is pinned."""
    if getattr(pool, "_ledger_pinnable", False):
        return
    checkout = pool.connection

    @contextmanager
    def connection(timeout: float | None = None) -> Iterator[Any]:
        conn = getattr(_pinned, "conn", None)
        if conn is not None and getattr(_pinned, "pool", None) is pool:
            yield conn
            return
        with checkout(timeout) as fresh:
            yield fresh

    pool.connection = connection
    pool._ledger_pinnable = True


def decode_notification(n: Notification) -> Recorded:
    return decode_event(n.originator_id, n.originator_version, n.topic, n.state)
