"""How long the console's order page takes to render for an order with ~200 events, beside the same
order's JSON timeline (`GET /orders/{id}/events`), measured in one run on the same ledger.

Server time is the ASGI application's own time per request (from the call into the app until its
last body chunk), measured in-process: no network, no browser. Both requests read the same streams
and both record one audited read (`OrderHistoryRead`); the page also reads the CS view, the patient
and the invoice, and renders the template. Limit: 150 ms for the page.
Usage: .venv/bin/python scripts/bench_console.py [--attempts 99] [--runs 30] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.payments.fake import FakeGateway
from api.app import create_app
from api.auth import issue_token
from domain.events import Actor
from ledger.bootstrap import Wiring, build_runtime
from ledger.console_links import sign_in_url
from ledger.demo import seed
from ledger.settings import Settings
from replay.timeline import timeline
from service import orders
from service.unit import Context

ORG = "org_bench"
LIMIT_MS = 150.0


class Timed:
    """Wraps the app and keeps the last request's server time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.last_ms = app, 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.last_ms = (time.perf_counter() - started) * 1000


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=99, help="declined payment attempts (2 events each)")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings, _ = Settings(
            LEDGER_ENV="local",
            LEDGER_VAR_DIR=Path(tmp),
            LEDGER_ORGANIZATION_ID=ORG,
            LEDGER_SECRET="bench-secret-" + "z" * 24,
            DATABASE_URL=args.database_url,
        ).with_local_defaults()
        runtime = build_runtime(settings, Wiring(gateways={"fake": FakeGateway()}))
        data = seed(runtime, ORG)
        ctx = Context(Actor(kind="staff", id="bench"), ORG, "bench", "bench")
        placed = orders.place_order(
            runtime.deps, ctx, data["patients"]["ada"], [(data["products"]["semaglutide"], 1)]
        )
        for n in range(args.attempts):
            orders.pay_invoice(
                runtime.deps,
                ctx,
                placed.invoice.id,
                data["payment_methods"]["ada_declines"],
                f"bench-decline-{n}",
            )
        orders.pay_invoice(
            runtime.deps, ctx, placed.invoice.id, data["payment_methods"]["ada_visa"], "bench-pay"
        )
        order_id = placed.order.id
        events = len(timeline(runtime.deps.store, ORG, order_id))
        timed = Timed(create_app(runtime))
        with TestClient(timed, base_url="http://testserver") as client:
            link = sign_in_url(
                runtime.token_secret, "http://testserver", role="cs", subject=None, organization_id=ORG
            )
            token = parse_qs(urlsplit(link).query)["link"][0]
            assert (
                client.post("/console/sign-in", data={"link": token}, follow_redirects=False).status_code
                == 303
            )
            bearer = issue_token(
                runtime.token_secret, role="cs", subject=None, organization_id=ORG, now=runtime.deps.clock()
            )
            api_headers = {"Authorization": f"Bearer {bearer}"}
            page_ms: list[float] = []
            json_ms: list[float] = []
            for run in range(args.runs + 3):  # the first three warm caches and are not counted
                r = client.get(f"/console/orders/{order_id}")
                assert r.status_code == 200 and "Timeline" in r.text, r.status_code
                page = timed.last_ms
                r = client.get(f"/orders/{order_id}/events", headers=api_headers)
                assert r.status_code == 200 and len(r.json()["events"]) == events
                if run >= 3:
                    page_ms.append(page)
                    json_ms.append(timed.last_ms)
        report(events, stats(page_ms), stats(json_ms), "PostgreSQL" if args.database_url else "SQLite")


def report(events: int, page: dict[str, Any], raw: dict[str, Any], store: str) -> None:
    print(f"order with {events} events on the timeline, {store} store, server time per request:")
    print(
        f"  console order page : median {page['median']:.1f} ms · p95 {page['p95']:.1f} ms · "
        f"max {page['max']:.1f} ms (limit {LIMIT_MS:.0f} ms)"
    )
    print(
        f"  JSON timeline      : median {raw['median']:.1f} ms · p95 {raw['p95']:.1f} ms · max {raw['max']:.1f} ms"
    )
    print(f"  ratio page / JSON  : {page['median'] / raw['median']:.2f}x (medians)")
    print("OK: median under the limit" if page["median"] < LIMIT_MS else "OVER THE LIMIT")


if __name__ == "__main__":
    main()
