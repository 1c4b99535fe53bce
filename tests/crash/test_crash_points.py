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
from typing import Any

import httpx
import pytest

from adapters.crashpoint import (
    AFTER_CHARGE,
    AFTER_CHARGE_REQUEST,
    AFTER_PHARMACY_CALL,
    AFTER_REFILL_BATCH,
    AFTER_RELEASE,
)
from domain.orders import Order
from domain.status import order_status
from service.unit import load
from tests.crash.counts import (
    at_pharmacy,
    at_pharmacy_once_if_owed,
    charged_once_or_declined,
    ids,
    settled,
    store_of,
)
from tests.crash.driver import PENDING_AFTER_S, Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


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
    store = store_of(c)
    released = [
        oid
        for oid in ids(store, "FulfillmentReleased")
        if not load(store, Order, oid).state.pharmacy_submitted
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
    while not settled(store) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert settled(store), c.tail()

    # Money, counted at localstripe.
    invoices = ids(store, "InvoiceIssued")
    assert len(invoices) == 8  # 4 originals, 4 refills
    assert charged_once_or_declined(c, store, invoices) == (7, 1)

    # Medication, counted at the pharmacy.
    by_reference = at_pharmacy_once_if_owed(c, store)
    assert order_status(load(store, Order, refunded).state) == "REFUNDED"
    assert refunded not in by_reference  # withheld at submit time: never sent
    assert max(o["submissions"] for o in at_pharmacy(c)) == 2  # the call repeated after its crash, deduped
