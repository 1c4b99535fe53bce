"""Must show: a Beluga block after payment puts an escalation in the queue within 2 s; the mapping is
fixed and retried from the order page, and the escalation resolves."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.console.conftest import Console
from tests.support.vendors import Stack, paid_refill, seed_catalog


def _wait_escalations(
    stack: Stack, order_id: str, until: Callable[[list[Any]], bool], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = stack.call("GET", "/cs/escalations", "cs", params={"order_id": order_id}).json()
        if until(found["escalations"]):
            return
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def test_a_missing_med_id_is_fixed_and_retried_from_the_order_page(console: Console) -> None:
    stack = console.stack
    seeded = seed_catalog(stack, med_id=None, requires_intake=False)  # the product has no Beluga medId
    paid_at = time.monotonic()
    order = paid_refill(stack, seeded)
    stack.wait_order(order["id"], lambda o: o["medical_review"]["status"] == "blocked", timeout=2.0)
    # The escalation policy raises it as an event; it is in the queue within 2 s of the payment.
    _wait_escalations(stack, order["id"], lambda found: len(found) == 1, timeout=2.0)
    assert time.monotonic() - paid_at < 2.0 + 1.0  # the refill call itself included

    cs = console.signed_in("cs")
    cs.goto(console.url + "/console/escalations")
    row = cs.locator(f"tr[data-order='{order['number']}']")
    assert row.get_attribute("data-escalation") == "MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT"
    assert "Copy escalation report" in row.inner_text()
    row.locator("details summary").click()
    report = row.locator("pre").inner_text()
    assert f"Refill order: {order['number']}" in report and "Beluga submit status / error: blocked" in report
    console.shot(cs, "escalations")
    cs.goto(console.url + f"/console/orders/{order['number']}")
    escalations = cs.inner_text("section.escalations")
    assert "MEDICAL_SUBMIT_FAILED_AFTER_PAYMENT" in escalations
    assert f"Refill order: {order['number']}" in (cs.text_content("#escalation-report") or "")
    assert cs.locator("form[data-action=fix-mapping]").count() == 0  # the catalog is staff's
    assert cs.locator("form[data-action=retry-review]").count() == 1
    console.shot(cs, "order-beluga-blocked")

    staff = console.signed_in("staff")
    staff.goto(console.url + f"/console/orders/{order['number']}")
    fix = staff.locator("form[data-action=fix-mapping]")
    fix.locator("input[name=med_id]").fill("med-sema")
    fix.locator("textarea[name=reason]").fill("Beluga confirmed the semaglutide medId")
    fix.locator("button[type=submit]").click()
    staff.wait_for_url("**done=fix-mapping*")
    assert staff.locator("form[data-action=retry-review]").count() == 0  # retrying is CS's and ops'

    cs.reload()
    retry = cs.locator("form[data-action=retry-review]")
    retry.locator("textarea[name=reason]").fill("medId fixed in the catalog")
    retry.locator("button[type=submit]").click()
    cs.wait_for_url("**done=retry-review*")
    assert "Sent to Beluga for medical review" in cs.inner_text("#timeline li >> nth=0")
    _wait_escalations(stack, order["id"], lambda found: not found, timeout=5.0)  # resolved by the policy
    cs.reload()
    console.shot(cs, "order-after-retry")
    cs.goto(console.url + "/console/escalations")
    deadline = time.monotonic() + 10
    while cs.locator(f"tr[data-order='{order['number']}']").count() and time.monotonic() < deadline:
        time.sleep(0.2)
        cs.reload()
    assert cs.locator(f"tr[data-order='{order['number']}']").count() == 0, "the escalation did not resolve"
    cs.goto(console.url + "/console/escalations?state=resolved")
    assert cs.locator(f"tr[data-order='{order['number']}']").count() == 1
    cs.goto(console.url + f"/console/orders/{order['id']}")
    assert cs.locator("section.escalations").count() == 0
    visits = stack.beluga("GET", "/_sandbox/visits").json()
    assert [v["masterId"] for v in visits] == [stack.order(order["id"])["medical_review"]["master_id"]]
