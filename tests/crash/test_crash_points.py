"""SIGKILL at every step of paying and fulfilling, restart, reconcile: money and medication end right.

On PostgreSQL, with the Stripe adapter against localstripe and the pharmacy sandbox over HTTP. The
server is killed after the refill batch, after the charge request and after the charge (a card that
pays and one that declines); the worker after the release and after the pharmacy call; one released
order is refunded while its worker is dead. After restarts and reconciliation, counted at each
party: every invoice has exactly one successful charge at localstripe or a recorded decline, no
attempt is pending, every paid, released, open order is at the pharmacy exactly once, and no
refunded order is there.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.crashpoint import (
    AFTER_CHARGE,
    AFTER_CHARGE_REQUEST,
    AFTER_PHARMACY_CALL,
    AFTER_REFILL_BATCH,
    AFTER_RELEASE,
)
from adapters.dburl import eventsourcing_env, parse_database_url
from adapters.eventstore import LedgerStore
from adapters.sandbox.pharmacy_server import create_pharmacy_sandbox
from adapters.sandbox.runner import serve_in_thread
from domain.invoices import Invoice
from domain.orders import Order
from domain.status import order_status
from service.unit import load
from tests.crash.driver import PENDING_AFTER_S, PHARMACY_KEY, STRIPE_KEY, Cluster
from tests.support.localstripe import start_localstripe

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    with (
        start_localstripe() as stripe_url,
        serve_in_thread(create_pharmacy_sandbox(None, "unused", PHARMACY_KEY)) as pharmacy,
    ):
        c = Cluster(pg_url, stripe_url, pharmacy.url, tmp_path)
        try:
            yield c
        finally:
            c.stop()


def _seed(c: Cluster) -> dict[str, Any]:
    product = c.ok(
        "POST",
        "/products",
        "staff",
        json={
            "sku": "KIT-1",
            "name": "Injection kit",
            "price_cents": 4500,
            "kind": "non_rx",  # no prescription needed: paid means released
            "pharmacy": {"partner": "belmar", "product_code": "BLM-KIT"},
        },
    )
    patients, cards = {}, {}
    for name, refill_token in (("pays", "pm_card_visa"), ("declines", "pm_card_chargeCustomerFail")):
        patient = c.ok(
            "POST", "/patients", "staff", json={"name": name, "email": f"{name}@example.com", "state": "TX"}
        )
        patients[name] = patient
        methods = [
            c.ok(
                "POST",
                f"/patients/{patient['id']}/payment-methods",
                "staff",
                json={"gateway": "stripe", "token": token},
            )["id"]
            for token in dict.fromkeys(("pm_card_visa", refill_token))
        ]
        # (card that pays the original order, card the refill is charged to)
        cards[name] = (methods[0], methods[-1])
    return {"product": product, "patients": patients, "cards": cards}


def _paid_original(c: Cluster, seeded: dict[str, Any], who: str) -> str:
    patient, (good, _) = seeded["patients"][who], seeded["cards"][who]
    placed = c.ok(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": seeded["product"]["id"], "quantity": 1}]},
    )
    c.ok("POST", f"/invoices/{placed['invoice']['id']}/payments", "staff", json={"payment_method_id": good})
    return str(placed["order"]["id"])


def _refill(c: Cluster, seeded: dict[str, Any], who: str, original: str, key: str) -> httpx.Response:
    patient, (_, own) = seeded["patients"][who], seeded["cards"][who]
    return c.call(
        "POST",
        f"/orders/{original}/refills",
        "patient",
        patient["id"],
        json={"product_id": seeded["product"]["id"], "payment_method_id": own},
        headers={"Idempotency-Key": key},
    )


def _store(c: Cluster) -> LedgerStore:
    return LedgerStore(env=eventsourcing_env(parse_database_url(c.database_url)))


def _ids(store: LedgerStore, topic: str) -> list[str]:
    return list(dict.fromkeys(str(n.originator_id) for n in store.iter_notifications(topics=(topic,))))


def _intents(c: Cluster) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{c.stripe_url}/v1/payment_intents",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {STRIPE_KEY}"},
        timeout=10,
    )
    r.raise_for_status()
    data: list[dict[str, Any]] = r.json()["data"]
    assert len(data) < 100  # one page holds them all
    return data


def _at_pharmacy(c: Cluster) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{c.pharmacy_url}/_sandbox/orders", timeout=10).json()
    return found


def _settled(store: LedgerStore) -> bool:
    """Nothing left to do: no pending attempt, every paid, released, open order submitted."""
    for invoice_id in _ids(store, "InvoiceIssued"):
        invoice: Invoice = load(store, "invoice", invoice_id).state
        if any(a.outcome == "pending" for a in invoice.attempts):
            return False
    for order_id in _ids(store, "OrderPlaced"):
        order: Order = load(store, "order", order_id).state
        closed = order_status(order) in ("REFUNDED", "CANCELED")
        if order.paid and not closed and not (order.pharmacy_submitted or order.withheld_by):
            return False
    return True


def test_killed_at_every_step_then_restarted_and_reconciled(cluster: Cluster) -> None:
    c = cluster
    c.start_server()
    seeded = _seed(c)
    originals = {
        step: _paid_original(c, seeded, "pays")
        for step in (AFTER_REFILL_BATCH, AFTER_CHARGE_REQUEST, AFTER_CHARGE)
    }
    declined_original = _paid_original(c, seeded, "declines")
    c.stop()

    # The server dies at each step of a refill request; the patient's request never gets an answer.
    for step, original in [*originals.items(), (AFTER_CHARGE, declined_original)]:
        c.start_server(crash_at=step)
        who = "declines" if original == declined_original else "pays"
        with pytest.raises(httpx.TransportError):
            _refill(c, seeded, who, original, key=f"refill-{step}-{who}")
        assert c.killed(c.server) == -9, c.tail()

    # The worker dies after a release, and (restarted) after a pharmacy call.
    c.start_worker(crash_at=AFTER_RELEASE)
    assert c.killed(c.worker) == -9, c.tail()
    store = _store(c)
    released = [
        oid
        for oid in _ids(store, "FulfillmentReleased")
        if not load(store, "order", oid).state.pharmacy_submitted
    ]
    assert released, "the worker died after a release"
    # While the worker is down, staff refund the order it had just released.
    c.start_server()
    refunded = released[0]
    c.ok("POST", f"/orders/{refunded}/refund", "staff", json={"reason": "changed their mind"})
    c.start_worker(crash_at=AFTER_PHARMACY_CALL)
    assert c.killed(c.worker) == -9, c.tail()

    # Restarted for good: the reconciler and the policies finish what was interrupted.
    c.start_worker()
    # A replay of an interrupted request's key gets its refill, charged once (after pending_after).
    time.sleep(PENDING_AFTER_S)
    replay = _refill(
        c, seeded, "pays", originals[AFTER_REFILL_BATCH], key=f"refill-{AFTER_REFILL_BATCH}-pays"
    )
    assert replay.status_code in (200, 201), replay.text
    deadline = time.monotonic() + 90
    while not _settled(store) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _settled(store), c.tail()

    # Money, counted at localstripe.
    succeeded = Counter(i["metadata"].get("invoice_id") for i in _intents(c) if i["status"] == "succeeded")
    invoices = _ids(store, "InvoiceIssued")
    assert len(invoices) == 8  # 4 originals, 4 refills
    declined = 0
    for invoice_id in invoices:
        invoice: Invoice = load(store, "invoice", invoice_id).state
        assert all(a.outcome != "pending" for a in invoice.attempts)
        if invoice.status in ("PAID", "REFUNDED"):
            assert succeeded[invoice_id] == 1, invoice_id
        else:
            assert succeeded[invoice_id] == 0, invoice_id
            assert invoice.attempts[-1].outcome == "failed"  # a recorded decline
            declined += 1
    assert declined == 1
    assert sum(succeeded.values()) == 7

    # Medication, counted at the pharmacy.
    at_pharmacy = _at_pharmacy(c)
    by_reference = Counter(o["referenceId"] for o in at_pharmacy)
    active = {o["referenceId"] for o in at_pharmacy if o["status"] != "canceled"}
    for order_id in _ids(store, "OrderPlaced"):
        order: Order = load(store, "order", order_id).state
        status = order_status(order)
        if status in ("REFUNDED", "CANCELED"):
            assert order_id not in active, order_id
        elif order.paid and order.fulfillment_released:
            assert by_reference[order_id] == 1, order_id
            assert order_id in active
            types = [e.fact.TYPE for e in store.stream(UUID(order_id))]
            assert types.count("PharmacyOrderSubmitted") == 1
    refunded_order: Order = load(store, "order", refunded).state
    assert order_status(refunded_order) == "REFUNDED"
    assert refunded not in by_reference  # withheld at submit time: never sent
    assert max(o["submissions"] for o in at_pharmacy) == 2  # the call repeated after its crash, deduped
