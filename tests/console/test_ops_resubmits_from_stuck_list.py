"""Must show: ops resubmits a pharmacy-rejected order from the stuck list, and it reaches the pharmacy
again under its second attempt key."""

from __future__ import annotations

from tests.console.conftest import Console
from tests.support.vendors import paid_refill, seed_catalog


def rejected_order(console: Console) -> dict[str, str]:
    stack = console.stack
    seeded = seed_catalog(stack, med_id="med-sema", requires_intake=False)
    order = paid_refill(stack, seeded)
    master_id = stack.wait_order(order["id"], lambda o: o["medical_review"]["status"] == "submitted")[
        "medical_review"
    ]["master_id"]
    stack.beluga("POST", f"/_sandbox/visits/{master_id}/rx-written", json={})
    stack.wait_order(order["id"], lambda o: o["fulfillment"]["status"] == "submitted")
    r = stack.pharmacy(
        "POST", f"/_sandbox/orders/{order['id']}/status/rejected", json={"reason": "NPI not on file"}
    )
    assert r.json()["status"] == 200, r.text
    assert stack.order(order["id"])["status"] == "REJECTED"
    return order


def test_ops_resubmits_a_rejected_order_from_the_stuck_list(console: Console) -> None:
    order = rejected_order(console)
    cs = console.signed_in("cs")  # CS sees the row and why, but resubmitting is for staff and ops
    cs.goto(console.url + "/console/stuck")
    cs_row = cs.locator(f"tr[data-order='{order['number']}']")
    assert "NPI not on file" in cs_row.inner_text()
    assert cs_row.locator("form.fix").count() == 0

    page = console.signed_in("ops")
    page.click("nav >> text=Stuck orders")
    page.select_option("select[name=code]", "PHARMACY_REJECTED")
    page.click("form.filters button")
    page.wait_for_url("**/console/stuck?code=PHARMACY_REJECTED*")
    assert "1 in all" in page.inner_text("h1")
    row = page.locator(f"tr[data-order='{order['number']}']")
    assert "NPI not on file" in row.inner_text()
    button = row.locator("form.fix button")
    assert button.inner_text() == "Resubmit to the pharmacy"
    console.shot(page, "stuck")
    row.locator("input[name=reason]").fill("NPI added to the pharmacy's file")
    button.click()
    page.wait_for_url("**/console/stuck?*done=resubmit*")
    assert "sent to the pharmacy again" in page.inner_text("main")

    console.stack.wait_order(order["id"], lambda o: o["fulfillment"]["status"] == "submitted")
    refs = sorted(o["referenceId"] for o in console.stack.pharmacy("GET", "/_sandbox/orders").json())
    assert refs == [order["id"], f"{order['id']}.2"]
    events = console.stack.call("GET", f"/orders/{order['id']}/events", "ops").json()["events"]
    (resubmitted,) = [e for e in events if e["type"] == "FulfillmentResubmitted"]
    assert resubmitted["actor"]["kind"] == "ops"
    assert resubmitted["data"]["reason"] == "NPI added to the pharmacy's file"
    page.goto(console.url + f"/console/orders/{order['id']}")
    assert page.locator("form[data-action=resubmit]").count() == 0  # at the pharmacy again: no button
