"""The seed's whole refill path over HTTP alone: the ledger, Beluga and the pharmacy each on loopback.

paid refill → AWAITING_REQUIREMENTS → intake accepted → AWAITING_SCRIPT → auto-submitted → blocked for
a missing medId (reason recorded) → mapping fixed, retried → RX_WRITTEN → released → submitted to the
pharmacy → accepted → shipped with tracking → delivered → COMPLETED.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.vendors import Stack, paid_refill, running_stack, seed_catalog


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        # `ledger serve --processes 2` and two `ledger worker`s: no effect twice across processes
        pytest.param("deployed", marks=pytest.mark.postgres),
    ]
)
def stack(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue("pg_url") if request.param != "sqlite" else None
    with running_stack(tmp_path, url, deployed=request.param == "deployed") as running:
        yield running


def test_the_whole_seed_path_over_http(stack: Stack) -> None:
    seeded = seed_catalog(stack, med_id=None)
    refill = paid_refill(stack, seeded)
    order_id = refill["id"]
    assert refill["status"] == "AWAITING_REQUIREMENTS"
    assert refill["invoice"]["status"] == "PAID"
    assert refill["source_context"] == "PATIENT_REFILL"

    r = stack.call("POST", f"/orders/{order_id}/intake", "staff", json={"status": "accepted"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "AWAITING_SCRIPT"

    # The worker submits on its own, and records the block with its reason instead of failing silently.
    blocked = stack.wait_order(order_id, lambda o: o["medical_review"]["status"] == "blocked", what="blocked")
    assert blocked["medical_review"]["blocked_reasons"] == ["MED_ID_MISSING"]
    assert blocked["status"] == "AWAITING_SCRIPT"
    master_id = blocked["medical_review"]["master_id"]
    assert master_id
    assert stack.beluga("GET", "/_sandbox/visits").json() == []  # blocked: Beluga was never called

    r = stack.call(
        "PATCH",
        f"/products/{seeded['product']['id']}",
        "staff",
        json={"medical_review": {"visit_type": "glp1_refill", "med_id": "beluga-sema-25"}},
    )
    assert r.status_code == 200, r.text
    r = stack.call("POST", f"/orders/{order_id}/medical-review/retry", "ops")
    assert r.status_code == 200, r.text
    review = r.json()["medical_review"]
    assert (review["status"], review["master_id"], review["blocked_reasons"]) == ("submitted", master_id, [])
    visits = stack.beluga("GET", "/_sandbox/visits").json()
    assert [v["masterId"] for v in visits] == [master_id]
    assert visits[0]["request"]["medsRequested"][0]["medId"] == "beluga-sema-25"
    assert visits[0]["request"]["referenceId"] == order_id
    assert stack.pharmacy("GET", "/_sandbox/orders").json() == []  # no prescription yet: nothing sent

    sent = stack.beluga("POST", f"/_sandbox/visits/{master_id}/rx-written", json={}).json()
    assert sent["status"] == 200, sent
    submitted = stack.wait_order(
        order_id, lambda o: o["fulfillment"]["status"] == "submitted", what="submitted"
    )
    assert submitted["status"] == "AWAITING_FULFILLMENT"
    assert submitted["medical_review"]["prescribed_med_ids"] == ["beluga-sema-25"]
    assert submitted["fulfillment"]["partner"] == "belmar"
    at_pharmacy = stack.pharmacy("GET", "/_sandbox/orders").json()
    assert [(o["referenceId"], o["partner"], o["submissions"]) for o in at_pharmacy] == [
        (order_id, "belmar", 1)
    ]
    assert submitted["fulfillment"]["external_id"] == at_pharmacy[0]["orderId"]

    def pharmacy_says(status: str) -> dict[str, object]:
        result = stack.pharmacy("POST", f"/_sandbox/orders/{order_id}/status/{status}", json={}).json()
        assert result["status"] == 200, result
        return result  # type: ignore[no-any-return]

    pharmacy_says("accepted")
    assert stack.order(order_id)["status"] == "PROCESSING"
    shipped = pharmacy_says("shipped")
    order = stack.order(order_id)
    assert order["status"] == "SHIPPED"
    assert order["fulfillment"]["tracking"] == shipped["payload"]["tracking"]  # type: ignore[index]
    assert order["fulfillment"]["carrier"] == "UPS"
    pharmacy_says("delivered")
    done = stack.order(order_id)
    assert done["status"] == "COMPLETED"
    assert done["fulfillment"]["status"] == "delivered"

    # Late and repeated deliveries of everything change nothing.
    redelivered = stack.beluga("POST", f"/_sandbox/events/{sent['payload']['eventId']}/redeliver").json()
    assert redelivered["status"] == 200
    pharmacy_says("accepted")
    assert stack.order(order_id)["status"] == "COMPLETED"
    assert len(stack.pharmacy("GET", "/_sandbox/orders").json()) == 1
