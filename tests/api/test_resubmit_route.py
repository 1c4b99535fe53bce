"""`POST /orders/{id}/fulfillment/resubmit` over HTTP, with the Beluga and pharmacy sandboxes sending
their signed webhooks back: a pharmacy's rejection of a paid order shows its reason in the CS view and
in `/ops/stuck`, only staff and ops may resubmit, and the second attempt reaches the pharmacy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.vendors import Stack, paid_refill, running_stack, seed_catalog


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path) as running:
        yield running


def test_a_rejected_paid_order_is_resubmitted_by_ops_and_reaches_the_pharmacy_again(stack: Stack) -> None:
    seeded = seed_catalog(stack, med_id="med-sema", requires_intake=False)
    order_id = paid_refill(stack, seeded)["id"]
    master_id = stack.wait_order(order_id, lambda o: o["medical_review"]["status"] == "submitted")[
        "medical_review"
    ]["master_id"]
    stack.beluga("POST", f"/_sandbox/visits/{master_id}/rx-written", json={})
    stack.wait_order(order_id, lambda o: o["fulfillment"]["status"] == "submitted")

    # Before any rejection there is nothing to resubmit: the pharmacy holds the order.
    early = stack.call("POST", f"/orders/{order_id}/fulfillment/resubmit", "ops", json={"reason": "x"})
    assert early.status_code == 409, early.text
    assert early.headers["content-type"].startswith("application/problem+json")
    assert early.json()["reasons"] == ["NOTHING_TO_RESUBMIT"]

    rejected = stack.pharmacy(
        "POST", f"/_sandbox/orders/{order_id}/status/rejected", json={"reason": "NPI not on file"}
    )
    assert rejected.json()["status"] == 200, rejected.text
    order = stack.order(order_id)
    assert (order["status"], order["fulfillment"]["rejected_reason"]) == ("REJECTED", "NPI not on file")
    cs = stack.call("GET", f"/cs/orders/{order_id}", "cs").json()
    assert cs["fulfillment"]["rejected_reason"] == "NPI not on file"
    stuck = stack.call("GET", "/ops/stuck", "ops").json()
    (row,) = [r for r in stuck["orders"] if r["order_id"] == order_id]
    assert row["blocking_code"] == "PHARMACY_REJECTED" and "/fulfillment/resubmit" in row["fix"]

    path = f"/orders/{order_id}/fulfillment/resubmit"
    assert stack.call("POST", path, "cs", json={"reason": "x"}).status_code == 403
    patient = stack.call("POST", path, "patient", seeded["patient"]["id"], json={"reason": "x"})
    assert patient.status_code == 403
    assert stack.call("POST", path, "ops", json={}).status_code == 422  # the reason is required
    accepted = stack.call("POST", path, "ops", json={"reason": "NPI added to the pharmacy's file"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["fulfillment"]["attempt"] == 2
    assert accepted.json()["status"] == "AWAITING_FULFILLMENT"

    stack.wait_order(order_id, lambda o: o["fulfillment"]["status"] == "submitted")
    refs = sorted(o["referenceId"] for o in stack.pharmacy("GET", "/_sandbox/orders").json())
    assert refs == [order_id, f"{order_id}.2"]
    again = stack.call("POST", path, "staff", json={"reason": "twice"})
    assert again.status_code == 409  # the second attempt is at the pharmacy now

    shipped = stack.pharmacy("POST", f"/_sandbox/orders/{order_id}.2/status/shipped", json={})
    assert shipped.json()["status"] == 200, shipped.text
    assert stack.order(order_id)["status"] == "SHIPPED"
    cs = stack.call("GET", f"/cs/orders/{order_id}", "cs").json()
    assert cs["fulfillment"]["previous_problems"] == ["rejected: NPI not on file"]
