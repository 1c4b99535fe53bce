"""A clinic checkout killed at every step of paying, restarted and reconciled: one charge per cart.

The same cluster as the refill crash test (PostgreSQL, Stripe's SDK against localstripe, the
pharmacy sandbox over HTTP). The server dies after the checkout's commit (no charge yet) and after
the charge (a card that pays and one that declines); the worker dies while re-driving an
interrupted charge. After restarts, a replay of one key and the reconciler: every cart's invoice has
exactly one successful charge at localstripe or a recorded decline, nothing stays pending, and
every order of a paid cart is at the pharmacy exactly once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from adapters.crashpoint import AFTER_CHARGE, AFTER_CHARGE_REQUEST, AFTER_CHECKOUT_BATCH
from domain.invoices import Invoice
from service.unit import load
from tests.crash.counts import at_pharmacy_once_if_owed, charged_once_or_declined, ids, settled, store_of
from tests.crash.driver import PENDING_AFTER_S, Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]

NPI = "1234567893"  # Luhn-valid with the 80840 prefix
SIG = "Inject 0.25 mg subcutaneously once weekly"


@dataclass(frozen=True)
class ClinicDay:
    user: str
    product: str
    pharmacy: str
    prescriber: str
    patients: tuple[str, ...]
    cards: dict[str, str]  # "pays" / "declines" -> the clinic's saved card


def _admin(c: Cluster, path: str, body: dict[str, Any], method: str = "POST") -> str:
    return str(c.ok(method, f"/clinic/admin{path}", "staff", json=body)["id"])


def _seed(c: Cluster) -> ClinicDay:
    product = c.ok(
        "POST",
        "/products",
        "staff",
        json={
            "sku": "SEMA-25",
            "name": "Semaglutide",
            "price_cents": 0,
            "kind": "medication",
            "medical_review": {"visit_type": "refill", "med_id": "sema"},
            "pharmacy": {"partner": "belmar", "product_code": "BLM-SEMA"},
        },
    )["id"]
    pharmacy = _admin(
        c,
        "/pharmacies",
        {"name": "Belmar", "partner": "belmar", "licensed_states": ["TX"], "shipping_cents": 900},
    )
    _admin(
        c,
        f"/pharmacies/{pharmacy}/offerings",
        {
            "product_id": product,
            "strength": "2.5 mg/mL",
            "vial_price_cents": 4500,
            "fee_cents": 350,
            "turnaround_days": 3,
            "on_hand": 100,
        },
        method="PUT",
    )
    clinic = _admin(c, "/clinics", {"name": "Crash Clinic"})
    user = _admin(c, f"/clinics/{clinic}/users", {"name": "Pat Nurse", "email": "nurse@example.test"})
    prescriber = _admin(
        c, f"/clinics/{clinic}/prescribers", {"name": "Dr Wide", "npi": NPI, "licensed_states": ["TX"]}
    )
    patients = []
    for i in range(2):
        patient = c.ok(
            "POST", "/patients", "staff", json={"name": f"P{i}", "email": f"p{i}@example.com", "state": "TX"}
        )
        _admin(c, f"/clinics/{clinic}/patients", {"patient_id": patient["id"]})
        patients.append(str(patient["id"]))
    cards = {
        who: str(
            c.ok(
                "POST", "/clinic/payment-methods", "clinic", user, json={"gateway": "stripe", "token": token}
            )["id"]
        )
        for who, token in (("pays", "pm_card_visa"), ("declines", "pm_card_chargeCustomerFail"))
    }
    return ClinicDay(user, product, pharmacy, prescriber, tuple(patients), cards)


def _cart(c: Cluster, day: ClinicDay) -> str:
    cart = str(c.ok("POST", "/clinic/carts", "clinic", day.user)["id"])
    for patient in day.patients:
        line = {
            "patient_id": patient,
            "product_id": day.product,
            "quantity": 1,
            "pharmacy_id": day.pharmacy,
            "sig": SIG,
            "prescriber_id": day.prescriber,
        }
        c.ok("POST", f"/clinic/carts/{cart}/lines", "clinic", day.user, json=line)
    return cart


def _checkout(c: Cluster, day: ClinicDay, cart: str, who: str, key: str) -> httpx.Response:
    return c.call(
        "POST",
        f"/clinic/carts/{cart}/checkout",
        "clinic",
        day.user,
        json={"payment_method_id": day.cards[who]},
        headers={"Idempotency-Key": key},
    )


def test_checkout_killed_at_every_step_then_restarted_and_reconciled(cluster: Cluster) -> None:
    c = cluster
    c.start_server()
    day = _seed(c)
    steps = [(AFTER_CHECKOUT_BATCH, "pays"), (AFTER_CHARGE, "pays"), (AFTER_CHARGE, "declines")]
    carts = {(step, who): _cart(c, day) for step, who in steps}
    c.stop()

    # The server dies at each step of a checkout; the clinic never gets an answer.
    for (step, who), cart in carts.items():
        c.start_server(crash_at=step)
        with pytest.raises(httpx.TransportError):
            _checkout(c, day, cart, who, key=f"checkout-{step}-{who}")
        assert c.killed(c.server) == -9, c.tail()

    # Once the attempts are stale, the worker's reconciler takes one over and dies before charging.
    store = store_of(c)
    invoices = ids(store, "InvoiceIssued")
    assert len(invoices) == 3  # one per cart, each with one pending attempt
    assert all(load(store, Invoice, i).state.attempts[-1].outcome == "pending" for i in invoices)
    time.sleep(PENDING_AFTER_S)
    c.start_worker(crash_at=AFTER_CHARGE_REQUEST)
    assert c.killed(c.worker) == -9, c.tail()

    # Restarted for good. The clinic retries its first checkout with the same key: it gets its
    # orders, charged once, whoever finishes the attempt.
    c.start_server()
    c.start_worker()
    time.sleep(PENDING_AFTER_S)
    first = carts[(AFTER_CHECKOUT_BATCH, "pays")]
    replay = _checkout(c, day, first, "pays", key=f"checkout-{AFTER_CHECKOUT_BATCH}-pays")
    assert replay.status_code in (200, 201), replay.text
    assert len(replay.json()["orders"]) == len(day.patients)
    deadline = time.monotonic() + 90
    while not settled(store) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert settled(store), c.tail()

    # Money, counted at localstripe: two carts paid once each, the declined one never charged.
    assert charged_once_or_declined(c, store, invoices) == (2, 1)
    # Medication, counted at the pharmacy: the paid carts' four orders, once each.
    by_reference = at_pharmacy_once_if_owed(c, store)
    assert sum(by_reference.values()) == 2 * len(day.patients)
