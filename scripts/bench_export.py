"""Benchmark: a compliance export of 1,000,000 events from PostgreSQL, beside the raw read rate.

    .venv/bin/python scripts/bench_export.py [--events 1000000] [--database-url postgresql://…]

Without --database-url it creates (and drops) a throwaway database on the test server
(tests/support/postgres.py). Steps, each timed: bulk-load realistic events with COPY into the
library's table; seal them into the hash chain; read the log raw with psycopg (the baseline) and
through the library; export everything (one period) in a *child process*, whose peak RSS
(getrusage) is the export's own; verify the export offline with the public key alone.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from adapters.chain import Signer, Verifier
from adapters.dburl import eventsourcing_env, libpq_conninfo, parse_database_url
from adapters.eventstore import LedgerStore, encode_event
from adapters.logreader import iter_raw
from domain.events import Actor, Meta, Recorded
from domain.invoices import InvoiceIssued
from domain.orders import OrderLine, OrderPlaced
from domain.parties import PatientRegistered
from projections.db import PostgresViews
from projections.sealer import ensure_chain_schema, seal
from replay.export import Scope, run_export
from replay.verify_export import verify_export

ORG = "org_bench"


def rows(count: int) -> list[tuple[str, int, str, bytes]]:
    """Patients, orders and invoices: three events of realistic size per patient."""
    out: list[tuple[str, int, str, bytes]] = []
    start = datetime(2024, 1, 1, tzinfo=UTC)
    actor = Actor(kind="staff", id="bench")
    for i in range(count // 3 + 1):
        now = start + timedelta(seconds=i)
        patient, order, invoice = uuid4(), uuid4(), uuid4()
        corr = str(uuid4())
        facts = [
            (patient, PatientRegistered(name="Bench Patient", email="p@example.com", state="TX")),
            (
                order,
                OrderPlaced(
                    number=f"R-{i:08d}",
                    patient_id=str(patient),
                    invoice_id=str(invoice),
                    lines=(
                        OrderLine(
                            product_id=str(uuid4()),
                            sku="SEMA-2.5",
                            name="Semaglutide",
                            kind="medication",
                            quantity=1,
                            unit_price_cents=19900,
                        ),
                    ),
                    currency="usd",
                    source="EMR",
                    source_context="CHECKOUT",
                    placed_at=now,
                ),
            ),
            (
                invoice,
                InvoiceIssued(
                    order_ids=(str(order),), amount_cents=19900, currency="usd", patient_id=str(patient)
                ),
            ),
        ]
        for aggregate, fact in facts:
            meta = Meta(uuid4(), ORG, now, actor, corr, corr)
            out.append((str(aggregate), 1, fact.TYPE, encode_event(Recorded(aggregate, 1, fact, meta))))
        if len(out) >= count:
            break
    return out[:count]


def load(url: str, count: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(libpq_conninfo(parse_database_url(url))) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY ledger_events (originator_id, originator_version, topic, state) FROM STDIN"
            ) as copy,
        ):
            done = 0
            while done < count:
                for row in rows(min(100_000, count - done)):
                    copy.write_row(row)
                done += min(100_000, count - done)
        conn.commit()
        conn.execute("ANALYZE ledger_events")
    return time.perf_counter() - started


def raw_read(url: str) -> tuple[float, int]:
    """Baseline: every row through a server-side cursor, nothing decoded."""
    started, n = time.perf_counter(), 0
    with psycopg.connect(libpq_conninfo(parse_database_url(url))) as conn, conn.cursor(name="raw") as cur:
        cur.itersize = 10_000
        cur.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM ledger_events ORDER BY notification_id"
        )
        for _ in cur:
            n += 1
    return time.perf_counter() - started, n


def export_child(url: str, key: str, out: str) -> None:
    """Runs in its own process so its peak RSS is the export's alone."""
    store = LedgerStore(env=eventsourcing_env(parse_database_url(url)))
    views = PostgresViews(libpq_conninfo(parse_database_url(url)))
    started = time.perf_counter()
    manifest = run_export(
        store,
        views,
        Signer.from_b64(key),
        Scope(ORG, period_from=datetime(2000, 1, 1, tzinfo=UTC)),
        Path(out),
        export_id="bench",
        purpose="benchmark",
        requested_by="bench",
    )
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "events": manifest["counts"]["events"],
                "peak_mb": peak_mb,
                "bytes": manifest["files"]["events.jsonl"]["bytes"]
                + manifest["files"]["events.csv"]["bytes"],
            }
        )
    )
    views.close()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--out", default="var/bench-export")
    parser.add_argument("--child", nargs=3, metavar=("URL", "KEY", "OUT"))
    args = parser.parse_args()
    if args.child:
        export_child(*args.child)
        return
    if args.database_url:
        run(args.database_url, args.events, args.out)
        return
    from tests.support.postgres import fresh_database

    with fresh_database("ledger_bench") as url:
        run(url, args.events, args.out)


def run(url: str, count: int, out: str) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    signer = Signer.from_b64(key)
    store = LedgerStore(env=eventsourcing_env(parse_database_url(url)))  # creates the library's tables
    views = PostgresViews(libpq_conninfo(parse_database_url(url)))
    ensure_chain_schema(views)
    print(f"loading {count:,} events (COPY)…", flush=True)
    load_s = load(url, count)
    t = time.perf_counter()
    sealed = seal(store, views, signer, page=10_000)
    seal_s = time.perf_counter() - t
    raw_s, raw_n = raw_read(url)
    t = time.perf_counter()
    lib_n = sum(1 for _ in iter_raw(store, page=10_000))
    lib_s = time.perf_counter() - t
    views.close()
    store.close()
    child = subprocess.run(
        [sys.executable, __file__, "--child", url, key, out], capture_output=True, text=True, check=True
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    t = time.perf_counter()
    problems = verify_export(Path(out), Verifier.from_b64(signer.verifier.public_b64))
    verify_s = time.perf_counter() - t
    print(f"| load (COPY) | {count:,} events | {load_s:.1f} s | {count / load_s:,.0f} events/s |")
    print(
        f"| seal into the hash chain | {sealed:,} events | {seal_s:.1f} s | {sealed / seal_s:,.0f} events/s |"
    )
    print(
        f"| raw read, psycopg server-side cursor (baseline) | {raw_n:,} rows | {raw_s:.1f} s |"
        f" {raw_n / raw_s:,.0f} rows/s |"
    )
    print(
        f"| read through the library, pages of 10k | {lib_n:,} rows | {lib_s:.1f} s | {lib_n / lib_s:,.0f} rows/s |"
    )
    print(
        f"| **export** (JSONL + CSV + signed manifest, links re-checked) | {result['events']:,} events |"
        f" {result['seconds']:.1f} s | {result['events'] / result['seconds']:,.0f} events/s,"
        f" peak RSS {result['peak_mb']:.0f} MB, {result['bytes'] / 1e6:,.0f} MB written |"
    )
    print(
        f"| verify-export offline | {result['events']:,} events | {verify_s:.1f} s |"
        f" {'OK' if not problems else problems[:3]} |"
    )
    ok = result["seconds"] < 60 and result["peak_mb"] < 300 and not problems
    print("PASS" if ok else "FAIL", "(target: < 60 s, < 300 MB, verifies offline)")


if __name__ == "__main__":
    main()
