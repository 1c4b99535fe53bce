"""Must show (issue 12): a clinic user signs in, builds a 3-patient cart with one licensure problem,
sees it inline, fixes it, checks out once, and follows an order to "shipped" with tracking; another
clinic's user cannot open the cart or the order. Screenshots: clinic-dashboard, clinic-cart-problem,
clinic-order-shipped."""

from __future__ import annotations

from playwright.sync_api import Page

from adapters.payments.fake import FakeGateway
from tests.api.test_clinic_api import GOOD_SIG, set_up
from tests.api.test_clinic_rejections import StackLedger
from tests.console.conftest import Console


def add_line(page: Page, patient_id: str, choice: str, prescriber_id: str, quantity: int = 1) -> None:
    form = page.locator("form.add-line")
    form.locator("select[name=patient_id]").select_option(patient_id)
    form.locator("select[name=choice]").select_option(choice)
    form.locator("input[name=quantity]").fill(str(quantity))
    form.locator("input[name=sig]").fill(GOOD_SIG)
    form.locator("select[name=prescriber_id]").select_option(prescriber_id)
    form.locator("button").click()
    page.wait_for_load_state()


def test_a_clinic_builds_validates_fixes_pays_and_tracks_its_refill_day(console: Console) -> None:
    stack = console.stack
    c = set_up(StackLedger(stack), 3)  # type: ignore[arg-type]  # patients in TX, CA, NY
    other = set_up(StackLedger(stack), 1, name="Other Clinic")  # type: ignore[arg-type]
    gateway = stack.runtime.deps.gateways["fake"]
    assert isinstance(gateway, FakeGateway)

    page = console.signed_in("clinic", c.user)
    assert page.url.endswith("/console/clinic")
    page.click("text=New cart")
    page.wait_for_url("**/console/clinic/carts/*")
    cart_url = page.url
    sema_at_belmar = f"{c.sema}|{c.belmar.id}"
    add_line(page, c.patients[0]["id"], sema_at_belmar, c.dr_wide, 2)
    add_line(page, c.patients[1]["id"], sema_at_belmar, c.dr_texas)  # a Texas-only prescriber, a CA patient
    add_line(page, c.patients[2]["id"], sema_at_belmar, c.dr_wide)
    assert page.locator("tr[data-line]").count() == 3
    # the catalog shows each pharmacy's landed cost per vial, turnaround and stock
    options = page.locator("form.add-line select[name=choice] option").all_inner_texts()
    assert any("Belmar" in o and "a vial landed" in o and "3 days" in o for o in options)

    page.click("text=Validate the cart")
    page.wait_for_load_state()
    problem_row = page.locator(f"tr[data-patient='{c.patients[1]['id']}']")
    assert "has-problem" in (problem_row.get_attribute("class") or "")
    problems = page.locator("tr.problems")
    assert problems.count() == 1
    assert "PRESCRIBER_NOT_LICENSED_IN_STATE" in problems.inner_text()
    assert "Dr Texas" in problems.inner_text() and "CA" in problems.inner_text()
    console.shot(page, "clinic-cart-problem")

    # fix it inline: the licensed prescriber, then validate again
    problems.locator("select[name=prescriber_id]").select_option(c.dr_wide)
    problems.locator("button").click()
    page.wait_for_load_state()
    page.click("text=Validate the cart")
    page.wait_for_load_state()
    assert page.locator("tr.problems").count() == 0
    assert "Ready: no problems." in page.inner_text("[data-validation]")

    # another clinic's user cannot open this cart
    intruder = console.signed_in("clinic", other.user)
    intruder.goto(cart_url)
    assert "Not found" in intruder.inner_text("main")

    # one checkout: the button shows the total it charges
    button = page.locator("button[data-checkout]")
    label = button.inner_text()
    button.click()
    page.wait_for_url("**/console/clinic?done=*")
    assert "3 orders, one payment" in page.inner_text("main")
    (charge,) = gateway.charges()
    assert charge.succeeded
    assert label == f"Pay ${charge.amount_cents // 100:,}.{charge.amount_cents % 100:02d} and check out"
    console.shot(page, "clinic-dashboard")

    # the pharmacy ships one order; the clinic follows it to "shipped" with carrier and tracking
    orders = stack.call("GET", "/clinic/orders", "clinic", c.user).json()["orders"]
    first = next(o for o in orders if o["patient_id"] == c.patients[0]["id"])
    stack.wait_order(first["id"], lambda o: o["fulfillment"]["status"] == "submitted", what="submission")
    shipped = stack.pharmacy(
        "POST",
        f"/_sandbox/orders/{first['id']}/status/shipped",
        json={"carrier": "UPS", "tracking": "1Z999AA10123456784"},
    )
    assert shipped.json()["status"] == 200, shipped.text
    page.goto(console.url + "/console/clinic")
    shipped_group = page.locator("section[data-group='Shipped']")
    assert first["number"] in shipped_group.inner_text()
    shipped_group.locator(f"a:has-text('{first['number']}')").click()
    page.wait_for_url(f"**/console/clinic/orders/{first['id']}")
    assert page.inner_text("[data-status]") == "shipped"
    assert page.inner_text("[data-carrier]") == "UPS"
    assert page.inner_text("[data-tracking]") == "1Z999AA10123456784"
    console.shot(page, "clinic-order-shipped")
    intruder.goto(page.url)
    assert "Not found" in intruder.inner_text("main")
