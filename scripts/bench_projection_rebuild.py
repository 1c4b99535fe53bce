"""Rebuild a projection over 1,000,000 events on PostgreSQL, beside the raw read rate of the same run,
while the API keeps answering from the live (old) generation.

    .venv/bin/python scripts/bench_projection_rebuild.py [--events 1000000] [--server postgresql://…]

How the events get there fast: going through the app appends ~18k events/s at best, so the script
builds the stored form itself — the library's `ledger_events` table, each row (originator_id,
originator_version, topic, state) exactly as `LedgerMapper` writes it (the JSON envelope of
`adapters.eventstore.encode_event`, from real domain facts dumped once per event type and patched per
order) — and COPYs them in, in waves of interleaved orders so that each order's 12 events are spread
over the log as they would be in production. The library then reads them like any other event.

Measured, in one run: (1) raw read: `select_notifications` pages of 5,000, no decoding; (2) read and
decode into domain events; (3) the rebuild of `order_status` (order events only) and of `cs_orders`
(every event) with `replay.rebuild`, 5,000 events per transaction, while a thread GETs
`/ops/order-statuses` from an API process serving the old generation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.dburl import eventsourcing_env, parse_database_url  # noqa: E402
from adapters.eventstore import LedgerStore, decode_notification  # noqa: E402
from api.auth import issue_token  # noqa: E402
from domain import orders as o  # noqa: E402
from domain.invoices import InvoiceIssued, PaymentAttempted, PaymentSucceeded  # noqa: E402
from projections.cs_orders import CsOrdersProjection  # noqa: E402
from projections.db import PostgresViews  # noqa: E402
from projections.order_status import OrderStatusProjection  # noqa: E402
from projections.runner import catch_up, ensure_schema  # noqa: E402
from replay.rebuild import rebuild  # noqa: E402

ORG = "org_bench"
SECRET = "bench-secret-" + "b" * 24
WAVE = 2000  # orders whose events interleave


def _facts(now: datetime) -> list[tuple[str, Any]]:
    """One order's life as (aggregate, fact): 9 order events and 3 invoice events."""
    line = o.OrderLine(
        product_id=str(uuid.uuid4()),
        sku="SEMA",
        name="Semaglutide",
        kind="medication",
        quantity=1,
        unit_price_cents=29900,
        requires_intake=True,
    )
    return [
        (
            "order",
            o.OrderPlaced(
                number="R-X",
                patient_id="P",
                invoice_id="I",
                lines=(line,),
                currency="usd",
                source="EMR",
                source_context="CHECKOUT",
                placed_at=now,
            ),
        ),
        ("invoice", InvoiceIssued(order_ids=("O",), amount_cents=29900, currency="usd", patient_id="P")),
        (
            "invoice",
            PaymentAttempted(
                attempt=1,
                gateway="fake",
                payment_method_id="pm",
                idempotency_key="k",
                amount_cents=29900,
                attempted_at=now,
            ),
        ),
        ("invoice", PaymentSucceeded(attempt=1, gateway="fake", gateway_reference="ch", paid_at=now)),
        ("order", o.OrderCharged(invoice_id="I", charged_at=now)),
        ("order", o.IntakeRecorded(status="accepted")),
        (
            "order",
            o.MedicalReviewSubmitted(master_id="M", trigger="t", visit_type="v", med_ids=("med",), attempt=1),
        ),
        ("order", o.RxWritten(master_id="M", med_ids=("med",), vendor_event_id="E1", written_at=now)),
        ("order", o.FulfillmentReleased(partner="belmar", passed_checks=("RX_CONFIRMED",))),
        ("order", o.PharmacyOrderSubmitted(partner="belmar", external_id="X")),
        ("order", o.PharmacyOrderAccepted(partner="belmar", external_id="X", vendor_event_id="E2")),
        ("order", o.OrderShipped(carrier="UPS", tracking="1Z", vendor_event_id="E3", shipped_at=now)),
    ]


def generate(conninfo: str, table: str, total: int) -> int:
    """COPY `total` events (rounded to whole orders) into the library's events table; returns orders."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    facts = _facts(now)
    per_order = len(facts)
    n_orders = total // per_order
    templates = []  # (aggregate, topic, envelope-with-data as a JSON string with placeholders)
    for aggregate, fact in facts:
        data = json.dumps(fact.model_dump(mode="json"), separators=(",", ":"), sort_keys=True)
        data = (
            data.replace('"R-X"', '"@NUM@"')
            .replace('"P"', '"@PAT@"')
            .replace('"I"', '"@INV@"')
            .replace('["O"]', '["@ORD@"]')
        )
        templates.append((aggregate, fact.TYPE, data, fact.VERSION))
    envelope = (
        '{{"actor":{{"id":"bench","kind":"system"}},"causation_id":"{c}","correlation_id":"{c}",'
        '"data":{data},"event_id":"{e}","occurred_at":"{t}","organization_id":"' + ORG + '","v":{v}}}'
    )
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for wave_start in range(0, n_orders, WAVE):
            ids = [(uuid.uuid4(), uuid.uuid4()) for _ in range(min(WAVE, n_orders - wave_start))]
            versions: dict[uuid.UUID, int] = {}
            with cur.copy(
                f"COPY {table} (originator_id, originator_version, topic, state) FROM STDIN"
            ) as copy:
                for step, (aggregate, topic, data, fact_version) in enumerate(templates):
                    at = (now + timedelta(seconds=wave_start + step)).isoformat()
                    for i, (order_id, invoice_id) in enumerate(ids):
                        oid = order_id if aggregate == "order" else invoice_id
                        version = versions.get(oid, 0) + 1
                        versions[oid] = version
                        body = (
                            data.replace("@NUM@", f"R-{wave_start + i:08d}")
                            .replace("@PAT@", f"pat-{i % 997}")
                            .replace("@INV@", str(invoice_id))
                            .replace("@ORD@", str(order_id))
                        )
                        state = envelope.format(c=order_id, data=body, e=uuid.uuid4(), t=at, v=fact_version)
                        copy.write_row((oid, version, topic, state.encode()))
            conn.commit()
    return n_orders


def serve_api(database_url: str, port: int) -> None:
    """The API process: reads views as they are; no workers (the benchmark owns the projections)."""
    import uvicorn

    from api.app import create_app
    from ledger.bootstrap import build_runtime
    from ledger.settings import Settings

    settings, _ = Settings(
        LEDGER_ENV="local",
        LEDGER_ORGANIZATION_ID=ORG,
        LEDGER_SECRET=SECRET,
        DATABASE_URL=database_url,
        LEDGER_VAR_DIR=str(ROOT / "var" / "bench"),
    ).with_local_defaults()
    uvicorn.run(create_app(build_runtime(settings)), host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--server",
        default=os.environ.get("LEDGER_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--page", type=int, default=5000)
    parser.add_argument(
        "--workers", type=int, default=2, help="processes filling a partition-safe projection"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if args.serve:
        serve_api(args.serve, args.port)
        return
    dbname = f"bench_rebuild_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {dbname}")
    url = args.server.rsplit("/", 1)[0] + "/" + dbname
    try:
        run(
            url,
            args,
            lambda: subprocess.Popen([sys.executable, __file__, "--serve", url, "--port", str(args.port)]),
        )
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


def run(url: str, args: argparse.Namespace, start_api: Any) -> None:
    store = LedgerStore(env=eventsourcing_env(parse_database_url(url)))
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    views = PostgresViews(url)
    t0 = time.perf_counter()
    orders = generate(url, table, args.events)
    events = store.last_position()
    print(f"generated {events:,} events ({orders:,} orders) by COPY in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    after, raw = 0, 0
    while batch := store.notifications(after, args.page):
        raw += len(batch)
        after = batch[-1].id
    raw_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    after = 0
    while batch := store.notifications(after, args.page):
        for n in batch:
            decode_notification(n)
        after = batch[-1].id
    decoded_s = time.perf_counter() - t0

    status, cs = OrderStatusProjection(store), CsOrdersProjection(store)
    ensure_schema(views, [status, cs])
    catch_up(store, views, status, page=args.page)  # the live generation the API serves meanwhile
    api = start_api()
    token = issue_token(SECRET, role="ops", subject=None, organization_id=ORG, now=datetime.now(UTC))
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{args.port}", headers={"Authorization": f"Bearer {token}"}
    )
    for _ in range(200):
        try:
            if client.get("/ops/order-statuses").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    latencies: list[float] = []
    answers: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            r = client.get("/ops/order-statuses")
            latencies.append(time.perf_counter() - started)
            answers.append(sum(r.json()["counts"].values()) if r.status_code == 200 else -1)
            stop.wait(1.0)  # a few GETs a second: the API answering, not a load test

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        results = [rebuild(store, views, p, page=args.page, workers=args.workers) for p in (status, cs)]
    finally:
        stop.set()
        poller.join()
        api.kill()
    rows = [
        ("raw read (select_notifications, no decode)", raw, raw_s),
        ("read + decode into domain events", raw, decoded_s),
        *(
            (
                f"rebuild {r.name} (reads {'order' if r.name == 'order_status' else 'order+invoice'} events)",
                r.events,
                r.seconds,
            )
            for r in results
        ),
    ]
    print("\n| work | events | seconds | events/s | vs raw read |\n|---|---:|---:|---:|---:|")
    for label, count, secs in rows:
        print(
            f"| {label} | {count:,} | {secs:.1f} | {count / secs:,.0f} | {(count / secs) / (raw / raw_s):.2f}x |"
        )
    ok = sum(1 for a in answers if a == orders)
    print(
        f"\nAPI during the rebuilds: {len(answers)} GET /ops/order-statuses, {ok} counted all "
        f"{orders:,} orders (the live generation kept serving); p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
