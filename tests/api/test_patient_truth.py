"""What the patient (and CS) is told matches the facts, in every state (issue 14), on both stores."""

from __future__ import annotations

from typing import Any

from tests.support.app import Ledger


def test_patch_merges_a_nested_mapping_and_null_removes_one(ledger: Ledger) -> None:
    product = ledger.product(pharmacy={"partner": "belmar", "product_code": "BLM-1"})
    path = f"/products/{product['id']}"
    r = ledger.call("PATCH", path, "staff", json={"medical_review": {"med_id": "med-2"}})
    assert r.status_code == 200, r.text
    assert r.json()["medical_review"] == {"visit_type": "refill", "med_id": "med-2"}
    assert r.json()["pharmacy"] == {"partner": "belmar", "product_code": "BLM-1"}

    cleared = ledger.call("PATCH", path, "staff", json={"pharmacy": {"product_code": None}}).json()
    assert cleared["pharmacy"] == {"partner": "belmar", "product_code": None}
    removed = ledger.call("PATCH", path, "staff", json={"medical_review": None}).json()
    assert removed["medical_review"] is None
    assert ledger.call("GET", path, "staff").json() == removed


def test_the_openapi_says_which_patch_is_a_merge(ledger: Ledger) -> None:
    spec = ledger.client.get("/openapi.json").json()
    patch = spec["components"]["schemas"]["ProductPatch"]["properties"]["medical_review"]
    assert "merge patch" in patch["description"].lower()
    assert "null" in patch["description"]


def test_the_patients_orders_say_refill_or_subscription_renewal_in_words(ledger: Ledger) -> None:
    product, patient = ledger.product(), ledger.patient()
    original = ledger.paid_order(patient, [(product["id"], 2)])
    refill = ledger.call(
        "POST",
        f"/orders/{original['id']}/refills",
        "patient",
        patient["id"],
        headers={"Idempotency-Key": "kind-1"},
        json={"product_id": product["id"], "payment_method_id": patient["cards"][0]},
    )
    assert refill.status_code == 201, refill.text
    sub = ledger.call(
        "POST",
        "/subscriptions",
        "service",
        json={
            "patient_id": patient["id"],
            "product_id": product["id"],
            "payment_method_id": patient["cards"][0],
            "interval_days": 30,
        },
    ).json()
    cycle = ledger.call("POST", f"/subscriptions/{sub['id']}/cycles", "service", json={}).json()["order"]
    listed = ledger.call("GET", f"/patients/{patient['id']}/orders", "patient", patient["id"]).json()
    kinds = {o["number"]: o["kind"] for o in listed["orders"]}
    assert kinds[refill.json()["refill_order"]["number"]]["label"] == f"Refill of order {original['number']}"
    assert kinds[cycle["number"]]["label"] == "Subscription renewal — cycle 1"
    assert kinds[cycle["number"]]["code"] == "SUBSCRIPTION_CYCLE"
    assert "not a subscription renewal" in kinds[refill.json()["refill_order"]["number"]]["explanation"]
    staff_view = ledger.call("GET", f"/orders/{cycle['id']}", "staff").json()
    assert staff_view["kind"]["label"] == "Subscription cycle 1"


def _refill(ledger: Ledger, patient: dict[str, Any], order_id: str, product_id: str, key: str) -> Any:
    return ledger.call(
        "POST",
        f"/orders/{order_id}/refills",
        "patient",
        patient["id"],
        headers={"Idempotency-Key": key},
        json={"product_id": product_id, "payment_method_id": patient["cards"][0]},
    )


def _block(ledger: Ledger, patient: dict[str, Any], order_id: str) -> dict[str, Any]:
    listed = ledger.call("GET", f"/patients/{patient['id']}/orders", "patient", patient["id"]).json()
    return next(o["refill"] for o in listed["orders"] if o["id"] == order_id)


def test_a_paid_refill_on_its_way_is_shown_in_progress_and_returned_in_words(ledger: Ledger) -> None:
    product, patient = ledger.product(price_cents=24500), ledger.patient()
    original = ledger.paid_order(patient, [(product["id"], 3)])
    first = _refill(ledger, patient, original["id"], product["id"], "tab-1")
    assert first.status_code == 201, first.text
    number = first.json()["refill_order"]["number"]

    block = _block(ledger, patient, original["id"])
    assert block["eligible"] is False and block["reasons"] == ["REFILL_IN_PROGRESS"]
    (option,) = block["products"]
    assert option["in_progress"]["refill_order_number"] == number
    assert option["in_progress"]["paid"] is True
    assert option["in_progress"]["status"] == first.json()["refill_order"]["status"]

    again = _refill(ledger, patient, original["id"], product["id"], "tab-2")  # a new key: a second tab
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["created"] is False and body["in_progress"] is True
    assert body["refill_order"]["number"] == number
    assert number in body["message"] and "not bought again" in body["message"]
    assert body["invoice"]["amount_cents"] == 24500  # charged once
    orders = ledger.call("GET", f"/patients/{patient['id']}/orders", "patient", patient["id"]).json()
    assert len(orders["orders"]) == 2  # the original and one refill


def test_total_today_is_each_products_own_price(ledger: Ledger) -> None:
    cheap = ledger.product(sku="KIT", price_cents=1500, kind="non_rx", medical_review=None)
    dear = ledger.product(sku="SEMA", price_cents=29900)
    patient = ledger.patient()
    original = ledger.paid_order(patient, [(dear["id"], 2), (cheap["id"], 1)])
    block = _block(ledger, patient, original["id"])
    assert {p["product_id"]: p["total_today_cents"] for p in block["products"]} == {
        dear["id"]: 29900,
        cheap["id"]: 1500,
    }
    # One product on its way: the other can still be refilled, and is the one pre-selected.
    assert _refill(ledger, patient, original["id"], dear["id"], "one").status_code == 201
    block = _block(ledger, patient, original["id"])
    assert block["eligible"] is True
    busy = {p["product_id"]: p["in_progress"] is not None for p in block["products"]}
    assert busy == {dear["id"]: True, cheap["id"]: False}
    assert block["total_today_cents"] == 1500


def test_a_refused_refill_says_each_reason_in_words(ledger: Ledger) -> None:
    product, patient = ledger.product(), ledger.patient()
    placed = ledger.call(
        "POST",
        "/orders",
        "staff",
        json={"patient_id": patient["id"], "lines": [{"product_id": product["id"], "quantity": 1}]},
    ).json()
    r = _refill(ledger, patient, placed["order"]["id"], product["id"], "unpaid-1")
    assert r.status_code == 422
    assert "NOT_PAID" in r.json()["reasons"]
    assert "The original order is not paid." in r.json()["detail"]
