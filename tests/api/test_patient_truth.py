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
