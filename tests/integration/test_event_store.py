"""The event store on SQLite and PostgreSQL: one suite, two stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.dburl import eventsourcing_env, parse_database_url
from adapters.eventstore import ConcurrentWrite, LedgerStore, decode_notification
from domain.catalog import ProductAdded, ProductRepriced
from domain.events import Actor, Fact, Meta, Recorded, upcaster


def meta() -> Meta:
    return Meta(uuid4(), "org", datetime.now(UTC), Actor(kind="staff", id="s1"), "corr", "cause")


def added() -> ProductAdded:
    return ProductAdded(
        sku="A", name="a", price_cents=100, currency="usd", active=True, kind="non_rx", requires_intake=False
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    if request.param == "postgres":
        env = eventsourcing_env(parse_database_url(request.getfixturevalue("pg_url")))
    else:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s.sqlite")}
    app = LedgerStore(env=env)
    yield app
    app.close()


def test_facts_round_trip_with_their_stable_name_and_envelope(store: LedgerStore) -> None:
    pid = uuid4()
    m = meta()
    position = store.append(
        [
            Recorded(pid, 1, added(), m),
            Recorded(pid, 2, ProductRepriced(price_cents=150, previous_price_cents=100), m),
        ]
    )
    assert position == store.last_position()
    notes = list(store.iter_notifications())
    assert [n.topic for n in notes] == ["ProductAdded", "ProductRepriced"]  # no Python paths stored
    back = store.stream(pid)
    assert [e.fact for e in back] == [added(), ProductRepriced(price_cents=150, previous_price_cents=100)]
    assert back[0].meta == m


def test_expected_version_refuses_a_second_writer_and_writes_nothing(store: LedgerStore) -> None:
    pid, other = uuid4(), uuid4()
    store.append([Recorded(pid, 1, added(), meta())])
    before = store.last_position()
    with pytest.raises(ConcurrentWrite):
        # A batch touching a fresh stream and a stale one: all or nothing.
        store.append([Recorded(other, 1, added(), meta()), Recorded(pid, 1, added(), meta())])
    assert store.last_position() == before and store.stream(other) == []


def test_racing_writers_on_one_stream_exactly_one_wins_per_version(store: LedgerStore) -> None:
    pid = uuid4()
    store.append([Recorded(pid, 1, added(), meta())])
    wins: list[int] = []
    losses: list[int] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        try:
            store.append(
                [Recorded(pid, 2, ProductRepriced(price_cents=200 + i, previous_price_cents=100), meta())]
            )
            wins.append(i)
        except ConcurrentWrite:
            losses.append(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    assert [e.originator_version for e in store.stream(pid)] == [1, 2]


class LegacyPing(Fact):
    TYPE = "TestLegacyPing"
    AGGREGATE = "test"
    VERSION = 2
    amount_cents: int


@upcaster("TestLegacyPing", 1)
def dollars_to_cents(data: dict[str, Any]) -> dict[str, Any]:
    return {"amount_cents": int(data.pop("amount") * 100)}


def test_old_versions_are_upcast_on_read(store: LedgerStore) -> None:
    pid = uuid4()
    store.append([Recorded(pid, 1, LegacyPing(amount_cents=1), meta())])
    # Rewrite the stored body as version 1 wrote it, then read it back.
    note = next(iter(store.iter_notifications(topics=["TestLegacyPing"])))
    old = note.state.replace(b'"amount_cents":1', b'"amount":2.5').replace(b'"v":2', b'"v":1')
    from eventsourcing.persistence import Notification

    event = decode_notification(
        Notification(
            originator_id=note.originator_id, originator_version=1, topic=note.topic, state=old, id=note.id
        )
    )
    assert event.fact == LegacyPing(amount_cents=250)
    assert isinstance(event.originator_id, UUID)
