"""In headless Chromium: a printed link signs in; a patient gets 403; a form without CSRF is refused."""

from __future__ import annotations

from tests.console.conftest import Console


def test_a_printed_link_signs_in_and_a_used_one_is_refused(console: Console) -> None:
    page = console.page()
    page.goto(console.url + "/")
    assert "/console/sign-in" in page.url
    assert "ledger console-link --role cs" in page.inner_text("main")
    console.shot(page, "sign-in")
    link = console.link("ops")
    page.goto(link)
    page.wait_for_url(console.url + "/console")
    assert "Signed in as ops" in page.inner_text("header")
    cookie = next(c for c in page.context.cookies() if c["name"] == "ledger_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # the script cannot read the session
    console.shot(page, "home")
    other = console.page()
    other.goto(link)  # the same link a second time, in another browser
    assert "already been used" in other.inner_text("main")
    assert not [c for c in other.context.cookies() if c["name"] == "ledger_console"]


def test_a_patient_session_gets_403_and_a_form_without_csrf_is_refused(console: Console) -> None:
    patient = console.page()
    response = None
    patient.goto(console.link("patient", "pat-1"))
    patient.wait_for_load_state()
    response = patient.goto(console.url + "/console")
    assert response is not None and response.status == 403
    assert "may not open this page" in patient.inner_text("main")

    cs = console.signed_in("cs")
    cs.evaluate("document.querySelector('form.who input[name=csrf_token]').remove()")
    with cs.expect_navigation() as nav:
        cs.click("form.who button[type=submit]")
    assert nav.value is not None and nav.value.status == 403
    assert "security token" in cs.inner_text("main")
    console.shot(cs, "csrf-refused")
    assert cs.goto(console.url + "/console").status == 200  # type: ignore[union-attr]  # still signed in


def test_the_layout_fits_a_phone(console: Console) -> None:
    page = console.signed_in("cs", width=390, height=844)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    console.shot(page, "home-phone")
