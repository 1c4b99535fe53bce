"""Projections, the sealer and the policies as deployed: `ledger serve --processes 2` and two
`ledger worker`s on one PostgreSQL. The process holding the projections and the sealer is killed
(SIGKILL) between two rounds of refills; the stand-by takes over, and every view, the hash chain and
the tracked positions end exactly at the log's head, each event applied once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.eventlog import events_table
from ledger.serving import settings_env
from tests.support.vendors import Stack, running_stack

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]


def _seed(stack: Stack) -> dict[str, Any]:
    r = stack.call(
        "POST",
        "/products",
        "staff",
        json={"sku": "SEMA", "name": "Semaglutide", "price_cents": 29900, "kind": "medication"},
    )
    assert r.status_code == 201, r.text
    patient = stack.call(
        "POST", "/patients", "staff", json={"name": "Ada", "email": "ada@example.com", "state": "TX"}
    ).json()
    card = stack.call(
        "POST",
        f"/patients/{patient['id']}/payment-methods",
        "staff",
        json={"gateway": "fake", "token": "pm_card_visa"},
    ).json()["id"]
    return {"product": r.json()["id"], "patient": patient["id"], "card": card}


def _refills(stack: Stack, seeded: dict[str, Any], count: int) -> list[str]:
    """`count` paid originals, each refilled once: the order ids touched."""
    touched = []
    for _ in range(count):
        placed = stack.call(
            "POST",
            "/orders",
            "staff",
            json={
                "patient_id": seeded["patient"],
                "lines": [{"product_id": seeded["product"], "quantity": 1}],
            },
        ).json()
        paid = stack.call(
            "POST",
            f"/invoices/{placed['invoice']['id']}/payments",
            "staff",
            json={"payment_method_id": seeded["card"]},
        )
        assert paid.status_code == 200, paid.text
        original = placed["order"]["id"]
        r = stack.call(
            "POST",
            f"/orders/{original}/refills",
            "patient",
            seeded["patient"],
            headers={"Idempotency-Key": f"refill-{original}"},
            json={"product_id": seeded["product"], "payment_method_id": seeded["card"]},
        )
        assert r.status_code == 201, r.text
        touched += [original, r.json()["refill_order"]["id"]]
    return touched


def _wait_caught_up(stack: Stack, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    settled_at: int | None = None
    while True:
        views = stack.call("GET", "/ops/projections", "ops").json()["projections"]
        caught_up = all(v["events_behind"] == 0 for v in views)
        # The policies still append what the last events caused (an escalation, a hold): the head must
        # also have stopped moving, two reads apart.
        if (caught_up and views[0]["head"] == settled_at) or time.monotonic() > deadline:
            return views  # type: ignore[no-any-return]
        settled_at = views[0]["head"] if caught_up else None
        time.sleep(0.5)


def test_views_chain_and_policies_survive_the_active_worker_being_killed(pg_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, pg_url, deployed=True) as stack:
        deployment = stack.deployment
        assert deployment is not None
        seeded = _seed(stack)
        orders = _refills(stack, seeded, 4)
        active = deployment.active_worker("cs_orders")
        assert deployment.active_worker("sealer") in (0, 1)
        deployment.workers[active].send_signal(signal.SIGKILL)  # mid-stream, no clean shutdown
        deployment.workers[active].wait(10)
        orders += _refills(stack, seeded, 4)
        assert deployment.active_worker("cs_orders") == 1 - active  # the stand-by took over
        views = _wait_caught_up(stack)
        statuses = Counter(stack.order(order_id)["status"] for order_id in orders)
        counted = stack.call("GET", "/ops/order-statuses", "ops").json()
        head = stack.runtime.deps.store.last_position()
        with psycopg.connect(pg_url) as conn:
            table = events_table(stack.runtime.deps.store)
            events = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            chain = conn.execute("SELECT count(*), max(position) FROM event_chain").fetchone()
            deadline = time.monotonic() + 30
            while chain is not None and chain[1] != head and time.monotonic() < deadline:
                time.sleep(0.2)
                chain = conn.execute("SELECT count(*), max(position) FROM event_chain").fetchone()
        assert stack.settings is not None
        verified = subprocess.run(
            [sys.executable, "-m", "ledger", "verify"],
            env={**os.environ, **settings_env(stack.settings)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert all(v["events_behind"] == 0 and v["position"] == head for v in views), views
    # the order_status view agrees with the folded streams, each order counted once
    assert {k: v for k, v in counted["counts"].items() if v} == dict(statuses)
    assert events is not None and chain is not None
    assert chain == (events[0], head)  # every event linked once, none twice, up to the head
    assert verified.returncode == 0, verified.stdout + verified.stderr
