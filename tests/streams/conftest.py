"""A ledger wired as `ledger serve` wires it, with helpers to seed patients, paid orders and refills."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.chain import Signer
from tests.support.app import Ledger, running_ledger


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    with running_ledger(tmp_path) as running:
        yield running


@pytest.fixture
def pg_ledger(tmp_path: Path, pg_url: str) -> Iterator[Ledger]:
    with running_ledger(tmp_path, pg_url) as running:
        yield running


def signer(ledger: Ledger) -> Signer:
    return ledger.runtime.signer


def refill(ledger: Ledger, patient: dict[str, Any], order: dict[str, Any], product_id: str) -> dict[str, Any]:
    r = ledger.call(
        "POST",
        f"/orders/{order['id']}/refills",
        "patient",
        patient["id"],
        json={"product_id": product_id, "payment_method_id": patient["cards"][0]},
        headers={"Idempotency-Key": f"refill-{order['id']}"},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_for_export(ledger: Ledger, export_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = ledger.call("GET", f"/compliance/exports/{export_id}", "compliance")
        assert r.status_code == 200, r.text
        if r.json()["status"] != "running" or time.monotonic() > deadline:
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.05)
