"""Reads of the event store that the library's API does not offer, in SQL on its own tables.

- the global position of each event of some streams (a timeline is ordered by position);
- a dedicated PostgreSQL connection to LISTEN on the channel the library NOTIFYs on every insert;
- the library's table and channel names, so nothing else hard-codes them.
Everything here only reads; writes stay with `LedgerStore.append`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresRecorder
from psycopg.rows import tuple_row
from pydantic import BaseModel, create_model

from adapters.eventstore import LedgerStore, decode_notification
from domain.events import Actor, Meta, Recorded, fact_class


def is_postgres(store: LedgerStore) -> bool:
    return isinstance(store.recorder, PostgresRecorder)  # the library's or ours (adapters.pg_append)


def events_table(store: LedgerStore) -> str:
    return str(store.recorder.events_table_name)  # type: ignore[attr-defined]


def notify_channel(store: LedgerStore) -> str | None:
    """The channel the library's PostgreSQL recorder NOTIFYs in each inserting transaction."""
    return getattr(store.recorder, "channel_name", None) if is_postgres(store) else None


def pg_conninfo(store: LedgerStore) -> dict[str, Any]:
    kwargs = dict(store.recorder.datastore.pool.kwargs)  # type: ignore[attr-defined]
    kwargs.pop("row_factory", None)
    return {k: v for k, v in kwargs.items() if v not in (None, "")}


def positions_of(store: LedgerStore, aggregate_ids: Iterable[UUID]) -> dict[tuple[UUID, int], int]:
    """(aggregate id, version) → global position, for every event of these streams."""
    ids = list(dict.fromkeys(aggregate_ids))
    if not ids:
        return {}
    table = events_table(store)
    found: dict[tuple[UUID, int], int] = {}
    if is_postgres(store):
        sql = (
            f"SELECT originator_id, originator_version, notification_id FROM {table}"  # noqa: S608
            " WHERE originator_id = ANY(%s)"
        )
        with store.recorder.datastore.get_connection() as conn, conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(sql, (ids,))
            for row in cur.fetchall():
                found[(UUID(str(row["originator_id"])), int(row["originator_version"]))] = int(
                    row["notification_id"]
                )
        return found
    marks = ",".join("?" * len(ids))
    sql = f"SELECT originator_id, originator_version, rowid FROM {table} WHERE originator_id IN ({marks})"  # noqa: S608
    with store.recorder.datastore.transaction(commit=False) as cur:  # type: ignore[attr-defined]
        cur.execute(sql, [i.hex for i in ids])  # the library stores SQLite ids as 32 hex digits
        for row in cur.fetchall():
            found[(UUID(str(row[0])), int(row[1]))] = int(row[2])
    return found


WINDOW_PAGES = 10  # a page's scan covers at most this many pages' worth of positions


def read_page(
    store: LedgerStore,
    after: int,
    limit: int,
    topics: tuple[str, ...] = (),
    *,
    stop: int,
    partition: tuple[int, int] | None = None,
) -> tuple[list[Notification], int]:
    """A page of the log (PostgreSQL) and the position it covers up to, as tuples rather than the library's
    dict rows, optionally only the events whose aggregate id's last byte ≡ k (mod n) — a parallel rebuild's
    share, filtered by the server.

    The scan is bounded to a window of positions: with a filter on topic or share and an open range, the
    planner prefers a sequential scan and a sort over the whole table (seen: 300 ms a page at 1M events)."""
    window_end = min(stop, after + limit * WINDOW_PAGES)
    sql = (
        "SELECT notification_id, originator_id, originator_version, topic, state"  # noqa: S608
        f" FROM {events_table(store)} WHERE notification_id > %s AND notification_id <= %s"
    )
    params: list[Any] = [after, window_end]
    if topics:
        sql += " AND topic = ANY(%s)"
        params.append(list(topics))
    if partition is not None:
        sql += " AND get_byte(uuid_send(originator_id), 15) %% %s = %s"
        params += [partition[1], partition[0]]
    sql += " ORDER BY notification_id LIMIT %s"
    params.append(limit)
    with store.recorder.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:  # type: ignore[attr-defined]
        cur.execute(sql, params)
        rows = [
            Notification(id=r[0], originator_id=r[1], originator_version=r[2], topic=r[3], state=bytes(r[4]))
            for r in cur.fetchall()
        ]
    return rows, (rows[-1].id if len(rows) == limit else window_end)


def partition_of(aggregate_id: UUID, n: int) -> int:
    """The share an aggregate falls in, as `read_page` computes it in SQL."""
    return aggregate_id.bytes[15] % n


def first_after(store: LedgerStore, position: int, topics: tuple[str, ...] = ()) -> tuple[int, bytes] | None:
    """The next event after a position (its id and raw state): how old the oldest unhandled event is."""
    batch = store.notifications(position, 1, topics)
    return (batch[0].id, batch[0].state) if batch else None


@contextmanager
def listener(store: LedgerStore) -> Iterator[Any]:
    """A connection LISTENing on the store's channel; `wait(conn, timeout)` returns on a NOTIFY."""
    channel = notify_channel(store)
    assert channel is not None, "LISTEN/NOTIFY needs the PostgreSQL store"
    conn = psycopg.connect(autocommit=True, **pg_conninfo(store))
    try:
        conn.execute(f'LISTEN "{channel}"')
        yield conn
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def wait_for_notify(conn: Any, timeout: float) -> bool:
    """Block up to `timeout` seconds for a NOTIFY; True when one came. The NOTIFYs queued behind it are
    drained too: one catch-up covers them all (under load, one per commit would mean a pass per event)."""
    got = False
    for _ in conn.notifies(timeout=timeout, stop_after=1):
        got = True
    if got:
        for _ in conn.notifies(timeout=0.0):
            pass
    return got


class _Envelope(BaseModel):
    """The stored JSON body (see `adapters.eventstore.encode_event`) with the fact typed, so pydantic
    parses the bytes once, in Rust, instead of json.loads followed by a validation of the dict."""

    v: int
    event_id: UUID
    organization_id: str
    occurred_at: datetime
    actor: Actor
    correlation_id: str
    causation_id: str
    data: Any


_ENVELOPES: dict[str, type[_Envelope]] = {}


def _envelope(topic: str) -> type[_Envelope]:
    model = _ENVELOPES.get(topic)
    if model is None:
        model = create_model(f"Envelope_{topic}", __base__=_Envelope, data=(fact_class(topic), ...))
        _ENVELOPES[topic] = model
    return model


def decode_fast(n: Notification) -> Recorded:
    """The same `Recorded` as `decode_notification`, parsing the JSON once; old versions go the slow way."""
    body = _envelope(n.topic).model_validate_json(n.state) if _current(n.state, n.topic) else None
    if body is None:
        return decode_notification(n)
    meta = Meta(
        body.event_id,
        body.organization_id,
        body.occurred_at,
        body.actor,
        body.correlation_id,
        body.causation_id,
    )
    oid = n.originator_id if isinstance(n.originator_id, UUID) else UUID(str(n.originator_id))
    return Recorded(originator_id=oid, originator_version=n.originator_version, fact=body.data, meta=meta)


def _current(state: bytes, topic: str) -> bool:
    # The version sits at the end of the sorted-key body: `…,"v":N}`; anything else goes the slow way.
    tail = state[-8:]
    marker = tail.rfind(b'"v":')
    return marker >= 0 and tail[marker + 4 : -1] == str(fact_class(topic).VERSION).encode()
