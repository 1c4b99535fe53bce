"""Benchmark: new refills per second through `ledger serve` on PostgreSQL, as deployed (its workers
running), driven by `wrk` with a Lua script, beside the raw ceiling measured in the same run.

    .venv/bin/python scripts/bench_refills.py [--seconds 10] [--connections 8 32] [--processes 1 2]
        [--pool 10] [--threads 40] [--orders 3000] [--write-docs]

- Load: `wrk` (Debian's package) with `scripts/bench/refills.lua`; every request refills a different
  pre-seeded paid order (a new refill each: 201), as the patient who owns it.
- As deployed: `ledger serve --processes N --no-workers` and one `ledger worker` (every kind).
- Ceiling: `scripts/bench/ceiling.py`, a minimal Starlette route served the same way (uvicorn, N
  processes, the same thread pool), appending 3 rows in one transaction behind
  `LOCK TABLE … IN EXCLUSIVE MODE` + NOTIFY, as the event store's write does.
- Reports refills/s, its ratio to the ceiling, p50 and p99, and the machine's load (`uptime`): the
  ratio is what counts on a shared machine. `--write-docs` adds the table to docs/BENCHMARKS.md.
Uses a fresh database on the server named by LEDGER_TEST_DATABASE_URL / DATABASE_URL, else the local
one (as the tests do), and drops it afterwards. Its commits skip the wait for the disk
(synchronous_commit off, on both sides) unless `--durable`: behind the event store's table lock every
commit's fdatasync is serial, so on a slow disk (8-16 ms here) both the ceiling and the ledger measure
the disk (~60 commits/s) rather than the code.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.dburl import libpq_conninfo, parse_database_url  # noqa: E402
from api.auth import issue_token  # noqa: E402
from tests.support.deployed import free_port, wait_healthy  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402

ORG = "org_bench"
SECRET = "bench-secret-" + "x" * 24
LUA = ROOT / "scripts" / "bench" / "refills.lua"
WRK = "/usr/bin/wrk"


@dataclass
class Run:
    what: str
    processes: int
    connections: int
    created: int
    other: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    load: str

    @property
    def rate(self) -> float:
        return self.created / self.seconds if self.seconds else 0.0


def load_average() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def ledger_env(url: str, var: Path, pool: int, threads: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "LEDGER_ENV": "production",
        "LEDGER_VAR_DIR": str(var),
        "LEDGER_ORGANIZATION_ID": ORG,
        "LEDGER_SECRET": SECRET,
        "LEDGER_STRIPE_WEBHOOK_SECRET": "whsec_bench",
        "LEDGER_BELUGA_WEBHOOK_SECRET": "beluga-bench",
        "LEDGER_PHARMACY_WEBHOOK_SECRET": "pharmacy-bench",
        "LEDGER_SIGNING_KEY": base64.b64encode(b"b" * 32).decode(),
        "LEDGER_PAYMENT_GATEWAY": "fake",
        "LEDGER_LOG_LEVEL": "WARNING",  # as in production minus the per-request line
        "LEDGER_DB_POOL_SIZE": str(pool),
        "LEDGER_API_THREADS": str(threads),
    }


@contextmanager
def running(args: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    path = Path(env.get("LEDGER_VAR_DIR", tempfile.gettempdir())) / f"server-{port}.log"
    log = path.open("wb")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, path)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        log.close()


@contextmanager
def ledger(url: str, var: Path, processes: int, pool: int, threads: int) -> Iterator[str]:
    env = ledger_env(url, var, pool, threads)
    port = free_port()
    cmd = [sys.executable, "-m", "ledger"]
    worker = subprocess.Popen([*cmd, "worker"], env=env, stderr=subprocess.DEVNULL)
    try:
        serve = [
            *cmd,
            "serve",
            "--port",
            str(port),
            "--processes",
            str(processes),
            "--no-demo",
            "--no-workers",
        ]
        with running(serve, env, port) as base:
            yield base
    finally:
        worker.terminate()
        worker.wait(30)


@contextmanager
def ceiling(conninfo: str, var: Path, processes: int, pool: int, threads: int) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "BENCH_CONNINFO": conninfo,
        "BENCH_POOL": str(pool),
        "BENCH_THREADS": str(threads),
        "LEDGER_VAR_DIR": str(var),
    }
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "scripts" / "bench"), "ceiling:create"]
    cmd += ["--factory", "--port", str(port), "--workers", str(processes), "--log-level", "warning"]
    with running([*cmd, "--no-access-log"], env, port) as base:
        yield base


def seed(base: str, count: int, per_patient: int = 50) -> tuple[str, list[str]]:
    """`count` paid orders over HTTP (product, patients, cards): the product id and order,token,card lines."""
    staff = {
        "Authorization": "Bearer "
        + issue_token(SECRET, role="staff", subject=None, organization_id=ORG, now=datetime.now(UTC))
    }
    with httpx.Client(base_url=base, timeout=120, headers=staff) as http:
        product = http.post(
            "/products",
            json={"sku": "SEMA", "name": "Semaglutide", "price_cents": 29900, "kind": "medication"},
        ).json()["id"]

        def patient(i: int) -> tuple[str, str, str]:
            p = http.post(
                "/patients", json={"name": f"Bench {i}", "email": f"b{i}@example.com", "state": "TX"}
            ).json()["id"]
            card = http.post(
                f"/patients/{p}/payment-methods", json={"gateway": "fake", "token": "pm_card_visa"}
            ).json()["id"]
            token = issue_token(
                SECRET,
                role="patient",
                subject=p,
                organization_id=ORG,
                now=datetime.now(UTC),
                ttl=timedelta(hours=12),
            )
            return p, card, token

        def order(who: tuple[str, str, str]) -> str:
            placed = http.post(
                "/orders", json={"patient_id": who[0], "lines": [{"product_id": product, "quantity": 1}]}
            ).json()
            paid = http.post(
                f"/invoices/{placed['invoice']['id']}/payments", json={"payment_method_id": who[1]}
            )
            assert paid.status_code == 200, paid.text
            return f"{placed['order']['id']},{who[2]},{who[1]}"

        with ThreadPoolExecutor(16) as pool:
            patients = list(pool.map(patient, range((count + per_patient - 1) // per_patient)))
            lines = list(pool.map(order, [patients[i // per_patient] for i in range(count)]))
    return product, lines


def wrk(base: str, orders: Path, product: str, connections: int, seconds: int) -> dict[str, Any]:
    threads = min(2, connections)
    command = [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s"]
    command += ["-s", str(LUA), base]
    out = subprocess.run(
        [*command, "--", str(orders), product, str(threads)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"^RESULT (\{.*\})$", out, re.MULTILINE)
    if found is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    result: dict[str, Any] = json.loads(found.group(1))
    return result


def measure(
    what: str, base: str, orders: Path, product: str, processes: int, connections: int, seconds: int
) -> Run:
    load = load_average()
    r = wrk(base, orders, product, connections, seconds)
    if product != "-" and r["created"] + r["other"] >= len(orders.read_text().splitlines()) - connections:
        print(
            f"warning: {what} used up its orders: raise --orders (the rate is understated)", file=sys.stderr
        )
    return Run(
        what,
        processes,
        connections,
        r["created"],
        r["other"],
        r["errors"],
        r["duration_us"] / 1e6,
        r["p50_us"] / 1000,
        r["p99_us"] / 1000,
        load,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pool", type=int, default=10, help="LEDGER_DB_POOL_SIZE per process")
    parser.add_argument("--threads", type=int, default=40, help="LEDGER_API_THREADS per process")
    parser.add_argument("--orders", type=int, default=3000, help="pre-seeded paid orders per ledger run")
    parser.add_argument(
        "--durable",
        action="store_true",
        help="keep synchronous_commit on: each commit then waits for the disk's fdatasync behind the lock",
    )
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    var = Path(tempfile.mkdtemp(prefix="bench-refills-"))
    runs: list[Run] = []
    with fresh_database("ledger_bench") as url:
        conninfo = libpq_conninfo(parse_database_url(url))
        with psycopg.connect(conninfo, autocommit=True) as conn:
            if not args.durable:  # for both sides alike: measure the CPU path, not this disk's fsync
                conn.execute(f"ALTER DATABASE {conn.info.dbname} SET synchronous_commit = off")
            from importlib import import_module

            sys.path.insert(0, str(ROOT / "scripts" / "bench"))
            conn.execute(import_module("ceiling").DDL)
        configs = [(p, c) for p in args.processes for c in args.connections]
        with ledger(url, var, max(args.processes), args.pool, args.threads) as base:
            started = time.perf_counter()
            product, lines = seed(base, args.orders * len(configs))
            print(
                f"seeded {len(lines)} paid orders in {time.perf_counter() - started:.0f} s", file=sys.stderr
            )
        for i, (processes, connections) in enumerate(configs):
            orders = var / f"orders-{i}.csv"
            orders.write_text("\n".join(lines[i * args.orders : (i + 1) * args.orders]) + "\n")
            with ceiling(conninfo, var, processes, args.pool, args.threads) as base:
                runs.append(measure("ceiling", base, orders, "-", processes, connections, args.seconds))
            with ledger(url, var, processes, args.pool, args.threads) as base:
                runs.append(measure("refills", base, orders, product, processes, connections, args.seconds))
            print(f"{runs[-2]}\n{runs[-1]}", file=sys.stderr)
    shutil.rmtree(var, ignore_errors=True)
    table = report(runs, args)
    print(table)
    if args.write_docs:
        write_docs(table)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return f"{os.cpu_count()}-core {names[0] if names else cpu}"


def report(runs: list[Run], args: argparse.Namespace) -> str:
    ceilings = {(r.processes, r.connections): r for r in runs if r.what == "ceiling"}
    refills = {(r.processes, r.connections): r for r in runs if r.what == "refills"}
    rows = [
        "| processes | connections | new refills/s | p50 | p99 | ceiling req/s (p50 / p99) | ratio | load (1/5/15 min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in sorted(refills):
        r, c = refills[key], ceilings[key]
        bad = f" ({r.other} non-201, {r.errors} errors)" if r.other or r.errors else ""
        rows.append(
            f"| {r.processes} | {r.connections} | {r.rate:,.0f}{bad} | {r.p50_ms:.1f} ms | {r.p99_ms:.1f} ms"
            f" | {c.rate:,.0f} ({c.p50_ms:.1f} / {c.p99_ms:.1f} ms) | {r.rate / c.rate:.2f}x | {r.load} |"
        )
    top = max(args.connections)
    one, two = refills.get((1, top)), refills.get((2, top))
    verdict = []
    if one is not None:
        ratio = one.rate / ceilings[(1, top)].rate
        verdict.append(
            f"1 process at {top}: {ratio:.2f}x the ceiling (target ≥ 0.25x), p99 {one.p99_ms:.0f} ms (< 50)"
        )
    if one is not None and two is not None:
        verdict.append(f"2 processes / 1 at {top}: {two.rate / one.rate:.2f}x (target ≥ 1.6x)")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"Refills through `ledger serve` (PostgreSQL, `ledger worker` running), wrk {args.seconds} s per run, "
        f"pool {args.pool}+{args.pool}, {args.threads} threads per process, synchronous_commit "
        f"{'on' if args.durable else 'off'}; {machine()}, {when}"
    )
    return "\n".join([head, "", *rows, "", "; ".join(verdict)])


def write_docs(table: str) -> None:
    docs = ROOT / "docs" / "BENCHMARKS.md"
    text = docs.read_text()
    marker = "## Refills with wrk (`scripts/bench_refills.py`)"
    section = f"{marker}\n\n{table}\n"
    if marker in text:
        start = text.index(marker)
        end = text.find("\n## ", start + len(marker))
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    docs.write_text(text)


if __name__ == "__main__":
    main()
