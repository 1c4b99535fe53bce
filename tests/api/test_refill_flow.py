"""The patient refill flow of seed 001 over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.app import Ledger


def refill(
    ledger: Ledger,
    patient: dict[str, Any],
    order_id: str,
    product_id: str,
    card: str,
    key: str | None = "k-1",
) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return ledger.call(
        "POST",
        f"/orders/{order_id}/refills",
        "patient",
        patient["id"],
        json={"product_id": product_id, "payment_method_id": card},
        headers=headers,
    )


def listing_block(ledger: Ledger, patient: dict[str, Any], order_id: str) -> dict[str, Any]:
    r = ledger.call("GET", f"/patients/{patient['id']}/orders", "patient", patient["id"])
    assert r.status_code == 200, r.text
    return next(o["refill"] for o in r.json()["orders"] if o["id"] == order_id)


def test_paid_refill_creates_linked_order_at_current_price(ledger: Ledger) -> None:
    product = ledger.product(price_cents=29900, requires_intake=True)
    patient = ledger.patient()
    original = ledger.paid_order(patient, [(product["id"], 3)])

    r = refill(ledger, patient, original["id"], product["id"], patient["cards"][0])

    assert r.status_code == 201, r.text
    body = r.json()
    order = body["refill_order"]
    assert order["id"] != original["id"]
    assert (order["source"], order["source_context"]) == ("PATIENT_PORTAL", "PATIENT_REFILL")
    assert order["refill_of_order_id"] == original["id"]
    assert order["refill_of_order_number"] == original["number"]
    assert order["refill_product_id"] == product["id"]
    assert order["refill_original_quantity"] == 3
    assert [(ln["quantity"], ln["unit_price_cents"]) for ln in order["lines"]] == [
        (1, product["price_cents"])
    ]
    assert body["invoice"]["status"] == "PAID" and body["invoice"]["amount_cents"] == product["price_cents"]
    assert body["payment"]["status"] == "succeeded"
    assert order["charged_at"] is not None
    assert order["status"] == "AWAITING_REQUIREMENTS"  # the product requires intake
    assert ledger.gateway.charges_succeeded() == 2  # the original and the refill


def test_paid_refill_of_medication_without_intake_awaits_script(ledger: Ledger) -> None:
    product = ledger.product(requires_intake=False)
    patient = ledger.patient()
    original = ledger.paid_order(patient, [(product["id"], 1)])
    r = refill(ledger, patient, original["id"], product["id"], patient["cards"][0])
    assert r.status_code == 201, r.text
    assert r.json()["refill_order"]["status"] == "AWAITING_SCRIPT"


def test_refill_costs_current_price_and_original_is_untouched(ledger: Ledger) -> None:
    product = ledger.product(price_cents=20000)
    patient = ledger.patient()
    original = ledger.paid_order(patient, [(product["id"], 2)])
    r = ledger.call("PATCH", f"/products/{product['id']}", "staff", json={"price_cents": 24500})
    assert r.status_code == 200 and r.json()["price_cents"] == 24500

    assert listing_block(ledger, patient, original["id"])["products"][0]["unit_price_cents"] == 24500
    r = refill(ledger, patient, original["id"], product["id"], patient["cards"][0])

    assert r.status_code == 201, r.text
    assert r.json()["invoice"]["amount_cents"] == 24500
    after = ledger.call("GET", f"/orders/{original['id']}", "staff").json()
    assert after["lines"] == original["lines"]
    assert after["invoice"]["amount_cents"] == original["invoice"]["amount_cents"] == 40000


def test_declined_charge_keeps_order_and_invoice_then_good_card_pays(ledger: Ledger) -> None:
    product = ledger.product()
    patient = ledger.patient(cards=("pm_card_visa", "pm_card_chargeCustomerFail"))
    good, failing = patient["cards"]
    original = ledger.paid_order(patient, [(product["id"], 1)])

    r = refill(ledger, patient, original["id"], product["id"], failing, key="first")

    assert r.status_code == 402, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "declined" in problem["detail"].lower()
    refill_order, invoice = problem["refill_order"], problem["invoice"]
    assert invoice["status"] == "OPEN"
    assert invoice["payments"][0]["status"] == "failed"
    assert invoice["payments"][0]["gateway_error"] == "Your card was declined."
    stored = ledger.call("GET", f"/orders/{refill_order['id']}", "patient", patient["id"]).json()
    assert stored["status"] == "PENDING_PAYMENT" and stored["invoice"]["id"] == invoice["id"]

    # The same key again: the same refill and the same decline, no new order and no new charge.
    again = refill(ledger, patient, original["id"], product["id"], failing, key="first")
    assert again.status_code == 402 and again.json()["refill_order"]["id"] == refill_order["id"]
    assert len(again.json()["invoice"]["payments"]) == 1

    # A new key while that refill is unpaid: that one is returned (and charged), never duplicated.
    retried = refill(ledger, patient, original["id"], product["id"], good, key="second")
    assert retried.status_code == 200, retried.text
    assert retried.json()["refill_order"]["id"] == refill_order["id"]
    assert retried.json()["invoice"]["status"] == "PAID"
    assert retried.json()["created"] is False

    orders = ledger.call("GET", f"/patients/{patient['id']}/orders", "patient", patient["id"]).json()[
        "orders"
    ]
    refills = [o for o in orders if o["source_context"] == "PATIENT_REFILL"]
    assert [o["id"] for o in refills] == [refill_order["id"]]


def test_paying_the_declined_refill_invoice_directly(ledger: Ledger) -> None:
    product = ledger.product()
    patient = ledger.patient(cards=("pm_card_visa", "pm_card_chargeCustomerFail"))
    good, failing = patient["cards"]
    original = ledger.paid_order(patient, [(product["id"], 1)])
    declined = refill(ledger, patient, original["id"], product["id"], failing).json()

    r = ledger.call(
        "POST",
        f"/invoices/{declined['invoice']['id']}/payments",
        "patient",
        patient["id"],
        json={"payment_method_id": good},
        headers={"Idempotency-Key": "pay-1"},
    )

    assert r.status_code == 200, r.text
    assert r.json()["invoice"]["status"] == "PAID" and r.json()["payment"]["status"] == "succeeded"
    replay = ledger.call(
        "POST",
        f"/invoices/{declined['invoice']['id']}/payments",
        "patient",
        patient["id"],
        json={"payment_method_id": good},
        headers={"Idempotency-Key": "pay-1"},
    )
    assert replay.status_code == 200 and replay.json()["payment"]["attempt"] == r.json()["payment"]["attempt"]
    again = ledger.call(
        "POST",
        f"/invoices/{declined['invoice']['id']}/payments",
        "patient",
        patient["id"],
        json={"payment_method_id": good},
    )
    assert again.status_code == 409 and "INVOICE_ALREADY_PAID" in again.json()["reasons"]
    order = ledger.call("GET", f"/orders/{declined['refill_order']['id']}", "patient", patient["id"]).json()
    assert order["charged_at"] is not None and order["status"] == "AWAITING_SCRIPT"


def test_idempotency_key_reused_with_another_body_is_409(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    a, b = ledger.product(sku="A"), ledger.product(sku="B")
    patient = ledger.patient()
    original = ledger.paid_order(patient, [(a["id"], 1), (b["id"], 1)])
    assert (
        refill(ledger, patient, original["id"], a["id"], patient["cards"][0], key="same").status_code == 201
    )
    r = refill(ledger, patient, original["id"], b["id"], patient["cards"][0], key="same")
    assert r.status_code == 409 and "IDEMPOTENCY_KEY_REUSED" in r.json()["reasons"]


def test_paid_refill_replayed_with_same_key_returns_same_refill(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    product = ledger.product()
    patient = ledger.patient()
    original = ledger.paid_order(patient, [(product["id"], 1)])
    first = refill(ledger, patient, original["id"], product["id"], patient["cards"][0], key="k")
    second = refill(ledger, patient, original["id"], product["id"], patient["cards"][0], key="k")
    # Stripe's semantics: the first answer itself is replayed, status included.
    assert first.status_code == 201 and second.status_code == 201
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert ledger.gateway.charges_succeeded() == 2


@pytest.mark.parametrize("role", ["staff", "cs", "ops", "service", "compliance", "clinic"])
def test_only_patients_request_refills(sqlite_ledger: Ledger, role: str) -> None:
    r = sqlite_ledger.call(
        "POST",
        "/orders/x/refills",
        role,
        "someone" if role == "clinic" else None,
        json={"product_id": "p", "payment_method_id": "m"},
    )
    assert r.status_code == 403


def test_another_patients_order_invoice_and_refill_are_not_found(ledger: Ledger) -> None:
    product = ledger.product()
    owner, other = ledger.patient(), ledger.patient()
    original = ledger.paid_order(owner, [(product["id"], 1)])
    as_other = {"role": "patient", "subject": other["id"]}

    assert ledger.call("GET", f"/orders/{original['id']}", **as_other).status_code == 404
    assert ledger.call("GET", f"/patients/{owner['id']}/orders", **as_other).status_code == 404
    assert (
        ledger.call(
            "POST",
            f"/invoices/{original['invoice']['id']}/payments",
            **as_other,
            json={"payment_method_id": other["cards"][0]},
        ).status_code
        == 404
    )
    r = refill(ledger, other, original["id"], product["id"], other["cards"][0])
    assert r.status_code == 404 and original["id"] not in r.text
    assert ledger.call("GET", f"/orders/{original['id']}", "patient", owner["id"]).status_code == 200


def test_tokens_missing_malformed_or_expired_get_401(sqlite_ledger: Ledger) -> None:
    from datetime import UTC, datetime, timedelta

    from api.auth import issue_token

    client = sqlite_ledger.client
    assert client.get("/orders/x").status_code == 401
    assert client.get("/orders/x", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    expired = issue_token(
        sqlite_ledger.runtime.token_secret,
        role="staff",
        subject=None,
        organization_id="org_test",
        now=datetime.now(UTC) - timedelta(days=2),
    )
    r = client.get("/orders/x", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    forged = issue_token(
        "another-secret", role="staff", subject=None, organization_id="org_test", now=datetime.now(UTC)
    )
    assert client.get("/orders/x", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
