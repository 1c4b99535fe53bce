"""Benchmark: refill requests per second through the HTTP API, and events appended per second,
each beside a raw-PostgreSQL baseline measured in the same run on the same server.

    .venv/bin/python scripts/bench_refills.py [--requests 400] [--concurrency 8] [--database-url URL]

Uses a fresh database on the server named by --database-url / LEDGER_TEST_DATABASE_URL /
DATABASE_URL, else the local one (as the tests do), and drops it afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.dburl import libpq_conninfo, parse_database_url
from adapters.eventstore import LedgerStore
from api.auth import issue_token
from domain.catalog import ProductAdded
from domain.events import Actor, Meta, Recorded
from tests.support.postgres import fresh_database

ORG = "org_bench"


def raw_transactions(conninfo: str, n: int, rows: int, concurrency: int) -> float:
    """Baseline: `n` transactions of `rows` inserted rows each, over `concurrency` connections."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (id BIGSERIAL PRIMARY KEY, stream UUID NOT NULL,"
            " version INT NOT NULL, topic TEXT NOT NULL, state BYTEA NOT NULL, UNIQUE (stream, version))"
        )
    payload = b'{"v":1,"data":{"price_cents":29900,"sku":"SEMA"},"actor":{"kind":"patient","id":"x"}}' * 3

    def worker(count: int) -> None:
        with psycopg.connect(conninfo) as conn:
            for _ in range(count):
                stream = uuid4()
                with conn.transaction():
                    conn.cursor().executemany(
                        "INSERT INTO raw_events (stream, version, topic, state) VALUES (%s, %s, %s, %s)",
                        [(stream, v, "OrderPlaced", payload) for v in range(1, rows + 1)],
                    )

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, [n // concurrency] * concurrency))
    return (n // concurrency * concurrency) / (time.perf_counter() - started)


def store_appends(store: LedgerStore, n: int, batch: int) -> float:
    """Events per second through LedgerStore.append, `batch` events per transaction."""
    meta = Meta(uuid4(), ORG, datetime.now(UTC), Actor(kind="system", id="bench"), "bench", "bench")
    fact = ProductAdded(
        sku="SEMA",
        name="Semaglutide",
        price_cents=29900,
        currency="usd",
        active=True,
        kind="medication",
        requires_intake=True,
    )
    started = time.perf_counter()
    for _ in range(n // batch):
        store.append([Recorded(uuid4(), 1, fact, meta) for _ in range(batch)])
    return (n // batch * batch) / (time.perf_counter() - started)


def refill_requests(url: str, requests: int, concurrency: int) -> tuple[float, float, float]:
    """Refill requests against `ledger serve` in its own process (as deployed), over loopback."""
    import os
    import socket
    import subprocess

    var = Path(tempfile.mkdtemp())
    secret = "bench-secret-" + "x" * 24
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LEDGER_VAR_DIR": str(var),
        "LEDGER_SECRET": secret,
        "LEDGER_ORGANIZATION_ID": ORG,
        "LEDGER_LOG_LEVEL": "WARNING",
        "LEDGER_LOG_JSON": "true",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("ledger")), "serve", "--port", str(port), "--no-demo"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        now = datetime.now(UTC)
        staff = {
            "Authorization": f"Bearer {issue_token(secret, role='staff', subject=None, organization_id=ORG, now=now)}"
        }
        with httpx.Client(
            base_url=base, timeout=60, limits=httpx.Limits(max_connections=concurrency)
        ) as http:
            product = http.post(
                "/products",
                headers=staff,
                json={
                    "sku": "SEMA",
                    "name": "Semaglutide",
                    "price_cents": 29900,
                    "kind": "medication",
                    "requires_intake": True,
                },
            ).json()
            patient = http.post(
                "/patients", headers=staff, json={"name": "Bench", "email": "b@example.com", "state": "TX"}
            ).json()
            card = http.post(
                f"/patients/{patient['id']}/payment-methods",
                headers=staff,
                json={"gateway": "fake", "token": "pm_card_visa"},
            ).json()["id"]

            def original(_: int) -> str:
                placed = http.post(
                    "/orders",
                    headers=staff,
                    json={
                        "patient_id": patient["id"],
                        "lines": [{"product_id": product["id"], "quantity": 1}],
                    },
                ).json()
                http.post(
                    f"/invoices/{placed['invoice']['id']}/payments",
                    headers=staff,
                    json={"payment_method_id": card},
                )
                return str(placed["order"]["id"])

            with ThreadPoolExecutor(concurrency) as pool:
                originals = list(pool.map(original, range(requests)))
            patient_auth = {
                "Authorization": "Bearer "
                + issue_token(secret, role="patient", subject=patient["id"], organization_id=ORG, now=now)
            }
            latencies: list[float] = []

            def one(order_id: str) -> None:
                t = time.perf_counter()
                r = http.post(
                    f"/orders/{order_id}/refills",
                    json={"product_id": product["id"], "payment_method_id": card},
                    headers={**patient_auth, "Idempotency-Key": order_id},
                )
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 201, r.text

            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(one, originals))
            elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()
    return (
        requests / elapsed,
        statistics.median(latencies) * 1000,
        latencies[int(len(latencies) * 0.99) - 1] * 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--events", type=int, default=6000)
    args = parser.parse_args()
    from adapters.logging import configure_logging

    configure_logging(json_lines=True, level="WARNING")  # one line per request would be measured too
    with fresh_database("ledger_bench") as url:
        conninfo = libpq_conninfo(parse_database_url(url))
        rps, p50, p99 = refill_requests(url, args.requests, args.concurrency)
        # A refill request writes 7 events (refill, order, invoice, link, key, attempt, outcome + charge)
        # in 3 transactions; the baseline is 3 raw transactions of ~3 rows at the same concurrency.
        raw_tx = raw_transactions(conninfo, args.requests * 3, 3, args.concurrency)
        from adapters.dburl import eventsourcing_env

        store = LedgerStore(env={**eventsourcing_env(parse_database_url(url))})
        one = store_appends(store, args.events // 4, 1)
        three = store_appends(store, args.events, 3)
        hundred = store_appends(store, args.events * 5, 100)
        raw_single = raw_transactions(conninfo, args.events // 4, 1, 1)
        raw_three = raw_transactions(conninfo, args.events // 3, 3, 1) * 3
        store.close()
    print(
        f"refill requests via HTTP ({args.concurrency} clients): {rps:8.0f} req/s  p50 {p50:.1f} ms  "
        f"p99 {p99:.1f} ms"
    )
    print(
        f"  raw PostgreSQL baseline, 3 x 3-row transactions per request: {raw_tx / 3:8.0f} req-equivalents/s"
    )
    print(
        f"events appended, 1 per transaction:   {one:8.0f} events/s   raw PG 1-row tx: {raw_single:8.0f} rows/s"
    )
    print(
        f"events appended, 3 per transaction:   {three:8.0f} events/s   raw PG 3-row tx: {raw_three:8.0f} rows/s"
    )
    print(f"events appended, 100 per transaction: {hundred:8.0f} events/s")


if __name__ == "__main__":
    main()
