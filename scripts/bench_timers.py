"""Fire 100,000 durable timers due in the same minute on PostgreSQL, beside the raw rate of reading and
updating the same number of rows with psycopg in the same run.

    .venv/bin/python scripts/bench_timers.py [--timers 100000] [--server postgresql://…] [--page 1000]

Setup (timed, not part of the figure): 100,000 `TimerScheduled` facts appended through `LedgerStore`
(1,000 per transaction), due at random seconds of one minute, and the due-timer index caught up.
Measured: a `TimerRunner` whose clock stands at the end of that minute fires them all: each pass
catches the index up, claims a page of due rows (`FOR UPDATE SKIP LOCKED`), and appends one
`TimerFired` per timer at version 2 (the exactly-once check) for the whole page in one transaction.
The handler does no work of its own, so the figure is the timer machinery's cost.
Raw baseline: a plain table of the same number of (id, due_at, fired) rows, indexed on due_at, drained
by `SELECT … FOR UPDATE SKIP LOCKED LIMIT page` + `UPDATE … SET fired` per transaction.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.dburl import eventsourcing_env, libpq_conninfo, parse_database_url  # noqa: E402
from adapters.eventstore import LedgerStore  # noqa: E402
from domain.events import Actor, Meta, Recorded  # noqa: E402
from domain.timers import TimerScheduled  # noqa: E402
from projections.db import PostgresViews  # noqa: E402
from projections.runner import catch_up, ensure_schema  # noqa: E402
from projections.timers import DueTimers  # noqa: E402
from service.deps import Deps  # noqa: E402
from service.timers import Firing, TimerHandlers, TimerRunner, timer_uuid  # noqa: E402
from service.unit import Batch, Context  # noqa: E402

ORG = "org_bench"
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _noop(deps: Deps, ctx: Context, firing: Firing, batch: Batch) -> None:
    """A timer whose work is nothing: the benchmark measures the firing itself."""


def _schedule(store: LedgerStore, count: int) -> float:
    actor = Actor(kind="system", id="bench")
    started = time.perf_counter()
    for first in range(0, count, 1000):
        events = []
        for n in range(first, min(first + 1000, count)):
            fact = TimerScheduled(
                purpose="bench.noop",
                key=str(n),
                stream_type="bench",
                stream_id="bench",
                due_at=START + timedelta(seconds=random.uniform(0, 59.999)),
            )
            meta = Meta(uuid.uuid4(), ORG, START - timedelta(days=1), actor, "bench", "bench")
            events.append(Recorded(timer_uuid("bench.noop", "bench", str(n)), 1, fact, meta))
        store.append(events)
    return time.perf_counter() - started


def _raw(conninfo: str, count: int, page: int) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_timers")
        conn.execute("CREATE TABLE bench_raw_timers (id TEXT PRIMARY KEY, due_at TEXT NOT NULL, fired BOOL)")
        with conn.cursor().copy("COPY bench_raw_timers (id, due_at, fired) FROM STDIN") as copy:
            for _ in range(count):
                due = START + timedelta(seconds=random.uniform(0, 59.999))
                copy.write_row((str(uuid.uuid4()), due.isoformat(), False))
        conn.execute("CREATE INDEX ON bench_raw_timers (due_at) WHERE NOT fired")
        conn.execute("ANALYZE bench_raw_timers")
        now = (START + timedelta(minutes=1)).isoformat()
        started, fired = time.perf_counter(), 0
        while True:
            with conn.transaction():
                rows = conn.execute(
                    "SELECT id FROM bench_raw_timers WHERE due_at <= %s AND NOT fired"
                    " ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED",
                    (now, page),
                ).fetchall()
                if not rows:
                    break
                conn.execute(
                    "UPDATE bench_raw_timers SET fired = true WHERE id = ANY(%s)", ([r[0] for r in rows],)
                )
                fired += len(rows)
        elapsed = time.perf_counter() - started
    assert fired == count, (fired, count)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    dbname = f"bench_timers_{uuid.uuid4().hex[:8]}"
    server = parse_database_url(args.server)
    with psycopg.connect(libpq_conninfo(server), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {dbname}")
    url = args.server.rsplit("/", 1)[0] + "/" + dbname
    target = parse_database_url(url)
    store = LedgerStore(env=eventsourcing_env(target))
    views = PostgresViews(libpq_conninfo(target))
    try:
        index = DueTimers()
        ensure_schema(views, [index])
        scheduling = _schedule(store, args.timers)
        started = time.perf_counter()
        catch_up(store, views, index, page=5000)
        indexing = time.perf_counter() - started
        print(
            f"scheduled {args.timers:,} timers in {scheduling:.1f} s ({args.timers / scheduling:,.0f}/s); "
            f"index caught up in {indexing:.1f} s ({args.timers / indexing:,.0f}/s)"
        )

        deps = Deps(store=store, gateways={}, clock=lambda: START + timedelta(minutes=1))
        runner = TimerRunner(deps, views, TimerHandlers(batched={"bench.noop": _noop}), page=args.page)
        started = time.perf_counter()
        fired = runner.run_until_idle(max_passes=10_000)
        firing = time.perf_counter() - started
        closed = sum(
            1
            for n in store.iter_notifications(page=5000, topics=("TimerFired",))
            if n.originator_version == 2
        )
        assert fired == closed == args.timers, (fired, closed)
        early = [
            n
            for n in store.iter_notifications(page=5000, topics=("TimerFired",))
            if b'"late_by_seconds":-' in n.state
        ]
        assert not early, "a timer fired before it was due"
        raw = _raw(libpq_conninfo(target), args.timers, args.page)
        ours, base = args.timers / firing, args.timers / raw
        print(
            f"fired {fired:,} timers due in one minute in {firing:.1f} s = {ours:,.0f} timers/s "
            f"(pages of {args.page}, one TimerFired each at version 2)"
        )
        print(
            f"raw psycopg SELECT … FOR UPDATE SKIP LOCKED + UPDATE of {args.timers:,} rows: {raw:.1f} s = "
            f"{base:,.0f} rows/s"
        )
        print(f"ratio: ledger timers at {ours / base:.2f}x the raw row rate ({base / ours:.1f}x slower)")
    finally:
        views.close()
        store.close()
        with psycopg.connect(libpq_conninfo(server), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


if __name__ == "__main__":
    main()
