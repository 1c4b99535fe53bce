"""The per-process aggregate cache, with a second store on the same database as "another process".

A hit is validated by reading only the stream's events after the cached version, so the other
writer's events are folded on, never missed; a decision made on a state that went stale in between
cannot commit (the append's expected version fails). Both stores: SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.aggregates import AggregateCache, Loaded, cache_of, load
from adapters.dburl import eventsourcing_env, parse_database_url
from adapters.eventstore import ConcurrentWrite, LedgerStore
from domain.catalog import Product, ProductAdded, ProductRepriced
from domain.events import Actor, Recorded
from service.unit import Batch, Context

CTX = Context(Actor(kind="staff", id="s1"), "org", "corr", "cause")


class Reads:
    """Every `LedgerStore.stream` call of one store: (aggregate id, after_version, events returned)."""

    def __init__(self, store: LedgerStore) -> None:
        self.calls: list[tuple[UUID, int | None, int]] = []
        inner = store.stream

        def counted(aggregate_id: UUID, **kw: Any) -> list[Recorded]:
            events = inner(aggregate_id, **kw)
            self.calls.append((aggregate_id, kw.get("after_version"), len(events)))
            return events

        store.stream = counted  # type: ignore[method-assign]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LedgerStore, LedgerStore]]:
    if request.param == "postgres":
        env = eventsourcing_env(parse_database_url(request.getfixturevalue("pg_url")))
    else:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s.sqlite")}
    mine, theirs = LedgerStore(env=env), LedgerStore(env=env)
    yield mine, theirs
    mine.close()
    theirs.close()


def added() -> ProductAdded:
    return ProductAdded(
        sku="A", name="a", price_cents=100, currency="usd", active=True, kind="non_rx", requires_intake=False
    )


def write(store: LedgerStore, build: Any) -> Batch:
    batch = Batch(CTX, datetime.now(UTC))
    build(batch)
    batch.commit(store)
    return batch


def test_a_hit_catches_up_with_another_writers_events_reading_only_the_newer_ones(
    two_stores: tuple[LedgerStore, LedgerStore],
) -> None:
    mine, theirs = two_stores
    pid = uuid4()
    committed = write(mine, lambda b: b.start(pid, added()))
    assert committed.state(Product, pid).price_cents == 100  # the commit handed back the evolved state
    assert cache_of(mine).peek(pid) is not None  # ... and put it in this process's cache

    at_theirs = load(theirs, Product, pid)  # the other process reads it (its own cache) and reprices
    write(theirs, lambda b: b.extend(at_theirs, ProductRepriced(price_cents=250, previous_price_cents=100)))

    reads = Reads(mine)
    before = cache_of(mine).stats()
    found = load(mine, Product, pid)
    assert (found.version, found.state.price_cents) == (2, 250)  # their write is not missed
    assert reads.calls == [(pid, 1, 1)]  # one read, of the one event after the cached version
    after = cache_of(mine).stats()
    assert (after["hits"] - before["hits"], after["caught_up"] - before["caught_up"]) == (1, 1)

    again = load(mine, Product, pid)
    assert again.state.price_cents == 250 and reads.calls[-1] == (pid, 2, 0)  # nothing newer: kept


def test_a_decision_on_a_state_that_went_stale_cannot_commit(
    two_stores: tuple[LedgerStore, LedgerStore],
) -> None:
    mine, theirs = two_stores
    pid = uuid4()
    write(mine, lambda b: b.start(pid, added()))
    stale = cache_of(mine).peek(pid)
    assert stale is not None
    write(
        theirs,
        lambda b: b.extend(
            load(theirs, Product, pid), ProductRepriced(price_cents=300, previous_price_cents=100)
        ),
    )
    with pytest.raises(ConcurrentWrite):
        write(mine, lambda b: b.extend(stale, ProductRepriced(price_cents=120, previous_price_cents=100)))
    assert load(mine, Product, pid).state.price_cents == 300  # the loser's retry reads the winner's


def test_a_miss_reads_the_whole_stream_and_absence_is_not_cached(
    two_stores: tuple[LedgerStore, LedgerStore],
) -> None:
    mine, theirs = two_stores
    pid = uuid4()
    assert cache_of(mine).read(mine, pid) is None  # nothing there yet
    write(theirs, lambda b: b.start(pid, added()))
    reads = Reads(mine)
    found = cache_of(mine).read(mine, pid)
    assert found is not None and found.version == 1  # created by the other process: seen at once
    assert reads.calls == [(pid, None, 1)]


def test_the_cache_keeps_the_most_recently_used_and_never_goes_back_a_version() -> None:
    cache = AggregateCache(max_entries=2)
    pids = [uuid4() for _ in range(3)]
    states = [Loaded("product", pid, 0, None, "org").evolved([added()], 1) for pid in pids]
    for loaded in states:
        cache.put(loaded)
    assert cache.peek(pids[0]) is None and cache.peek(pids[2]) is not None  # the oldest went
    newer = states[2].evolved([ProductRepriced(price_cents=5, previous_price_cents=100)], 2)
    cache.put(newer)
    cache.put(states[2])  # a slower thread's older state arrives late: ignored
    kept = cache.peek(pids[2])
    assert kept is not None and kept.version == 2


def test_a_batch_that_loses_its_race_leaves_nothing_in_the_cache(
    two_stores: tuple[LedgerStore, LedgerStore],
) -> None:
    """A SKU claim and its product are one batch: when the claim loses, the product's evolved
    state (a stream started in that batch) must not be cached as if it had been written."""
    mine, theirs = two_stores
    claim, loser = uuid4(), uuid4()
    write(theirs, lambda b: b.start(claim, added()))
    with pytest.raises(ConcurrentWrite):
        write(mine, lambda b: (b.start(loser, added()), b.start(claim, added())))
    assert cache_of(mine).peek(loser) is None and cache_of(mine).peek(claim) is None
    assert mine.stream(loser) == []  # ... nor written: the batch is one transaction
    assert load(mine, Product, claim).version == 1
