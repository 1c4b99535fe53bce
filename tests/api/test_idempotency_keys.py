"""Stripe's idempotency semantics on every keyed route (issue 10, defect 3).

The first response is kept with its key: the same key and request replay it, another request
under the key is 409 IDEMPOTENCY_KEY_REUSED, a request still running is 409 REQUEST_IN_PROGRESS,
and nothing answers 500. Payments counted at the fake gateway's own ledger.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.sandbox.runner import serve_in_thread
from api import idempotent
from api.app import create_app
from domain.events import Actor
from service.idempotency import RequestSlot, begin_request
from service.unit import Context
from tests.support.app import ORG, Ledger, running_ledger


def _unpaid(ledger: Ledger, cards: tuple[str, ...] = ("pm_card_visa",)) -> tuple[dict[str, Any], str]:
    product = ledger.product()
    patient = ledger.patient(cards=cards)
    r = ledger.call(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": 1}]},
    )
    assert r.status_code == 201, r.text
    return patient, r.json()["invoice"]["id"]


def _pay(ledger: Ledger, invoice_id: str, card: str, key: str) -> Any:
    return ledger.call(
        "POST",
        f"/invoices/{invoice_id}/payments",
        "staff",
        json={"payment_method_id": card},
        headers={"Idempotency-Key": key},
    )


def test_paying_a_paid_invoice_under_a_new_key_is_409_and_so_is_its_replay(ledger: Ledger) -> None:
    patient, invoice_id = _unpaid(ledger)
    card = patient["cards"][0]
    assert _pay(ledger, invoice_id, card, "v1").status_code == 200
    first = _pay(ledger, invoice_id, card, "v2")
    again = _pay(ledger, invoice_id, card, "v2")  # was a 500 (StopIteration)
    assert first.status_code == again.status_code == 409
    assert "INVOICE_ALREADY_PAID" in first.json()["reasons"]
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert ledger.gateway.charges_succeeded() == 1


def test_the_same_key_replays_the_first_answer_and_another_body_is_refused(ledger: Ledger) -> None:
    patient, invoice_id = _unpaid(ledger, cards=("pm_card_visa", "pm_card_mastercard"))
    first = _pay(ledger, invoice_id, patient["cards"][0], "k1")
    again = _pay(ledger, invoice_id, patient["cards"][0], "k1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    other = _pay(ledger, invoice_id, patient["cards"][1], "k1")
    assert other.status_code == 409
    assert other.json()["reasons"] == ["IDEMPOTENCY_KEY_REUSED"]
    assert len(ledger.gateway.charges()) == 1


def test_a_decline_is_replayed_as_the_same_402_not_charged_again(ledger: Ledger) -> None:
    patient, invoice_id = _unpaid(ledger, cards=("pm_card_chargeCustomerFail",))
    first = _pay(ledger, invoice_id, patient["cards"][0], "d1")
    again = _pay(ledger, invoice_id, patient["cards"][0], "d1")
    assert (first.status_code, again.status_code) == (402, 402)
    assert again.json() == first.json()
    assert len(ledger.gateway.charges()) == 1


def test_a_request_still_running_is_in_progress_until_it_is_presumed_dead(ledger: Ledger) -> None:
    patient, invoice_id = _unpaid(ledger)
    card = patient["cards"][0]
    deps = ledger.runtime.deps
    # The first request with this key started and is still running (or its process died).
    path = f"/invoices/{invoice_id}/payments"
    model = idempotent_body(card)
    scope = f"{ORG}/staff:"
    ctx = Context(Actor(kind="staff", id="first"), ORG, "c", "c")
    slot = begin_request(deps, ctx, scope, "slow", idempotent.fingerprint("POST", path, model))
    assert isinstance(slot, RequestSlot)

    busy = _pay(ledger, invoice_id, card, "slow")
    assert busy.status_code == 409
    assert busy.json()["reasons"] == ["REQUEST_IN_PROGRESS"]
    assert ledger.gateway.charges() == []

    deps.clock = lambda: datetime.now(UTC) + timedelta(minutes=3)  # past pending_after: it died
    taken_over = _pay(ledger, invoice_id, card, "slow")
    assert taken_over.status_code == 200, taken_over.text
    assert taken_over.json()["payment"]["status"] == "succeeded"
    assert ledger.gateway.charges_succeeded() == 1


def idempotent_body(card: str) -> Any:
    from api.models import PaymentIn

    return PaymentIn(payment_method_id=card)


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\there"])
def test_a_malformed_key_is_400(ledger: Ledger, key: str) -> None:
    patient, invoice_id = _unpaid(ledger)
    r = _pay(ledger, invoice_id, patient["cards"][0], key)
    assert r.status_code == 400
    assert r.json()["reasons"] == ["INVALID_IDEMPOTENCY_KEY"]
    assert ledger.gateway.charges() == []


@pytest.mark.postgres
def test_twelve_concurrent_keys_each_get_their_own_answer_every_time(pg_url: str, tmp_path: Path) -> None:
    with running_ledger(tmp_path, pg_url) as ledger:
        patient, invoice_id = _unpaid(ledger, cards=("pm_card_chargeCustomerFail", "pm_card_visa"))
        declining, paying = patient["cards"]
        card_of = {f"key-{i}": declining if i % 3 else paying for i in range(12)}
        with (
            serve_in_thread(create_app(ledger.runtime)) as server,
            httpx.Client(base_url=server.url, timeout=60, headers=ledger.auth("staff")) as http,
        ):

            def pay(key: str) -> httpx.Response:
                return http.post(
                    f"/invoices/{invoice_id}/payments",
                    json={"payment_method_id": card_of[key]},
                    headers={"Idempotency-Key": key},
                )

            with ThreadPoolExecutor(12) as pool:
                first = dict(zip(card_of, pool.map(pay, card_of), strict=True))
            with ThreadPoolExecutor(12) as pool:
                second = dict(zip(card_of, pool.map(pay, card_of), strict=True))

        assert all(r.status_code < 500 for r in [*first.values(), *second.values()])
        attempts: dict[int, str] = {}
        for key, r in first.items():
            reasons = r.json().get("reasons", []) if r.status_code == 409 else []
            if "PAYMENT_IN_PROGRESS" in reasons or "CONCURRENT_UPDATE" in reasons:
                continue  # "not now" is not kept: a retry runs again
            assert (second[key].status_code, second[key].json()) == (r.status_code, r.json()), key
            payment = r.json().get("payment")
            if payment is not None:
                # Each key answers with its own attempt, never another request's.
                assert attempts.setdefault(payment["attempt"], key) == key
                assert payment["payment_method_id"] == card_of[key]
        assert ledger.gateway.charges_succeeded() <= 1


def test_a_refund_replayed_under_its_key_answers_as_the_first_time(ledger: Ledger) -> None:
    product, patient = ledger.product(), ledger.patient()
    order = ledger.paid_order(patient, [(product["id"], 1)])

    def refund(key: str, reason: str = "duplicate order") -> Any:
        return ledger.call(
            "POST",
            f"/orders/{order['id']}/refund",
            "staff",
            json={"reason": reason},
            headers={"Idempotency-Key": key},
        )

    first, again = refund("r1"), refund("r1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert refund("r2").status_code == 409  # a new key is a new request: already refunded
    assert refund("r1", reason="other").json()["reasons"] == ["IDEMPOTENCY_KEY_REUSED"]
    assert len(ledger.gateway.refunds()) == 1
