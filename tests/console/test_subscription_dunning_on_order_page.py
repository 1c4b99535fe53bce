"""The console's order page of a subscription cycle shows the subscription's next cycle date, its dunning
state and each declined attempt with the gateway's message."""

from __future__ import annotations

from tests.console.conftest import Console


def test_cs_reads_the_dunning_of_a_declined_cycle(console: Console) -> None:
    stack = console.stack
    product = stack.call(
        "POST",
        "/products",
        "staff",
        json={"sku": "SUB-1", "name": "Monthly kit", "price_cents": 4900, "kind": "non_rx"},
    ).json()
    patient = stack.call(
        "POST", "/patients", "staff", json={"name": "Sam Example", "email": "sam@example.com", "state": "TX"}
    ).json()
    card = stack.call(
        "POST",
        f"/patients/{patient['id']}/payment-methods",
        "staff",
        json={"gateway": "fake", "token": "pm_card_chargeCustomerFail"},
    ).json()["id"]
    sub = stack.call(
        "POST",
        "/subscriptions",
        "service",
        json={"patient_id": patient["id"], "product_id": product["id"], "payment_method_id": card},
    ).json()
    declined = stack.call("POST", f"/subscriptions/{sub['id']}/cycles", "service", json={})
    assert declined.status_code == 201, declined.text
    order = declined.json()["order"]
    message = declined.json()["payment"]["gateway_error"]
    assert message and declined.json()["subscription"]["dunning"]["state"] == "RETRYING"

    page = console.signed_in("cs")
    page.goto(f"{console.url}/console/orders/{order['id']}")
    panel = page.inner_text("section.subscription")
    assert "RETRYING" in panel and "cycle 2 on" in page.inner_text("section.subscription dd.next-cycle")
    assert message in page.inner_text("table.dunning-attempts td.gateway-message")
    assert "first charge" in page.inner_text("table.dunning-attempts")
    console.shot(page, "order-subscription-dunning")
