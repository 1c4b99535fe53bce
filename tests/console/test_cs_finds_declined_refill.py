"""Must show: a CS agent signs in with a printed link, finds the seed's refill by the original order
number, opens the refill whose card was declined and reads the gateway message, the open invoice and
"do not request another refill"."""

from __future__ import annotations

from typing import Any

from ledger.demo import seed
from tests.console.conftest import Console
from tests.support.vendors import ORG


def declined_refill(console: Console) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed scenario: Ada's paid original order, then a refill paid with the card that declines."""
    data = seed(console.stack.runtime, ORG)
    original = data["original_order"]
    r = console.stack.call(
        "POST",
        f"/orders/{original['id']}/refills",
        "patient",
        data["patients"]["ada"],
        headers={"Idempotency-Key": "console-declined-1"},
        json={
            "product_id": data["products"]["semaglutide"],
            "payment_method_id": data["payment_methods"]["ada_declines"],
        },
    )
    assert r.status_code == 402, r.text
    return original, r.json()


def test_cs_finds_the_refill_by_the_original_number_and_reads_why_it_is_stuck(console: Console) -> None:
    original, declined = declined_refill(console)
    refill_number = declined["refill_order"]["number"]
    gateway_message = declined["payment"]["gateway_error"]
    assert gateway_message

    page = console.signed_in("cs")
    page.fill("header input[name=q]", original["number"])
    page.press("header input[name=q]", "Enter")
    page.wait_for_url("**/console/orders?q=*")
    rows = page.locator("table.results tbody tr")
    numbers = rows.locator("td:first-child a").all_inner_texts()
    assert original["number"] in numbers and refill_number in numbers
    assert f"Patient refill of order {original['number']}" in page.inner_text("table.results")
    console.shot(page, "find")

    page.click(f"text={refill_number}")
    page.wait_for_url("**/console/orders/*")
    attempts = page.inner_text("table.attempts")
    assert "failed" in attempts
    assert gateway_message in page.inner_text("table.attempts td.gateway-message")
    money = page.inner_text("section.money")
    assert "OPEN" in money
    assert "do not request another refill" in page.inner_text("main").lower()
    assert "Patient refill of order " + original["number"] in page.inner_text("main")
    page.click("details summary >> nth=0")  # the raw JSON is one click away
    assert '"type"' in page.inner_text("#timeline details[open] pre")
    console.shot(page, "order-declined-refill")

    # The page view and the search are audited reads, by this CS session's actor.
    r = console.stack.call("GET", "/events?types=OrderHistoryRead,OrdersSearched&limit=50", "ops")
    assert r.status_code == 200, r.text
    kinds = {(e["type"], e["actor"]["kind"]) for e in r.json()["events"]}
    assert ("OrdersSearched", "cs") in kinds and ("OrderHistoryRead", "cs") in kinds
