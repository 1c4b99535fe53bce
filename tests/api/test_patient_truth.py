"""What the patient (and CS) is told matches the facts, in every state (issue 14), on both stores."""

from __future__ import annotations

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
