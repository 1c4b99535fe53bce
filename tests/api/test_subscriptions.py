"""Subscription-cycle orders come from the subscription processor (or staff billing a cycle by hand),
never from the patient, and CS can tell them from patient refills at a glance."""

from __future__ import annotations

from tests.support.app import Ledger


def test_cycle_orders_are_labelled_charged_and_billed_once(ledger: Ledger) -> None:
    product = ledger.product(price_cents=19900)
    patient = ledger.patient()
    r = ledger.call(
        "POST",
        "/subscriptions",
        "service",
        json={
            "patient_id": patient["id"],
            "product_id": product["id"],
            "payment_method_id": patient["cards"][0],
            "interval_days": 30,
        },
    )
    assert r.status_code == 201, r.text
    subscription = r.json()

    first = ledger.call("POST", f"/subscriptions/{subscription['id']}/cycles", "service", json={})
    assert first.status_code == 201, first.text
    order = first.json()["order"]
    assert (order["source"], order["source_context"]) == ("SUBSCRIPTION", "SUBSCRIPTION_CYCLE")
    assert (order["subscription_id"], order["cycle_number"]) == (subscription["id"], 1)
    assert order["refill_of_order_id"] is None
    assert first.json()["invoice"]["status"] == "PAID" and order["charged_at"] is not None
    assert first.json()["invoice"]["amount_cents"] == 19900

    # The processor retries cycle 1: the same order comes back and nothing is charged again.
    again = ledger.call(
        "POST", f"/subscriptions/{subscription['id']}/cycles", "service", json={"cycle_number": 1}
    )
    assert again.status_code == 200 and again.json()["order"]["id"] == order["id"]
    assert ledger.gateway.charges_succeeded() == 1
    # Skipping ahead is refused, naming the field.
    skip = ledger.call(
        "POST", f"/subscriptions/{subscription['id']}/cycles", "service", json={"cycle_number": 5}
    )
    assert skip.status_code == 422 and skip.json()["errors"][0]["field"] == "cycle_number"

    cs = ledger.call("GET", f"/cs/orders/{order['id']}", "cs").json()
    assert cs["kind_label"] == "Subscription cycle 1"
    assert cs["source_context"] == "SUBSCRIPTION_CYCLE"


def test_staff_may_bill_a_cycle_by_hand_and_patients_and_cs_may_not(ledger: Ledger) -> None:
    """API.md "Subscriptions": `POST /subscriptions/{id}/cycles` is for `staff` and `service`."""
    product = ledger.product(price_cents=4900)
    patient = ledger.patient()
    body = {
        "patient_id": patient["id"],
        "product_id": product["id"],
        "payment_method_id": patient["cards"][0],
        "interval_days": 30,
    }
    subscription = ledger.call("POST", "/subscriptions", "staff", json=body).json()
    path = f"/subscriptions/{subscription['id']}/cycles"
    for role, subject in (("patient", patient["id"]), ("cs", None), ("ops", None), ("clinic", "someone")):
        assert ledger.call("POST", path, role, subject, json={}).status_code == 403, role

    billed = ledger.call("POST", path, "staff", json={})
    assert billed.status_code == 201, billed.text
    order = billed.json()["order"]
    assert (order["subscription_id"], order["cycle_number"]) == (subscription["id"], 1)
    assert billed.json()["invoice"]["status"] == "PAID" and ledger.gateway.charges_succeeded() == 1
    # The processor asking for the same cycle afterwards gets that order back; nothing is charged twice.
    again = ledger.call("POST", path, "service", json={"cycle_number": 1})
    assert again.status_code == 200 and again.json()["order"]["id"] == order["id"]
    assert ledger.gateway.charges_succeeded() == 1
