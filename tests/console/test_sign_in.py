"""Console sign-in over HTTP: one-time links, the session cookie, CSRF, expiry and roles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from api.console.session import COOKIE, csrf_token, read_session_cookie
from ledger.console_links import sign_in_url
from tests.support.app import ORG, Ledger, running_ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with running_ledger(tmp_path / "var") as running:
        yield running


def link(ledger: Ledger, role: str, subject: str | None = None, minutes: int = 15) -> str:
    url = sign_in_url(
        ledger.runtime.token_secret,
        "http://testserver",
        role=role,
        subject=subject,
        organization_id=ORG,
        minutes=minutes,
    )
    return parse_qs(urlsplit(url).query)["link"][0]


def sign_in(client: TestClient, token: str, **form: str) -> object:
    return client.post("/console/sign-in", data={"link": token, **form}, follow_redirects=False)


def csrf_of(ledger: Ledger) -> str:
    found = read_session_cookie(ledger.runtime.token_secret, ledger.client.cookies[COOKIE])
    assert found is not None
    return csrf_token(ledger.runtime.token_secret, found[0])


def test_root_leads_to_a_sign_in_page_that_says_how_to_get_a_link(ledger: Ledger) -> None:
    r = ledger.client.get("/")
    assert r.status_code == 200 and r.url.path == "/console/sign-in"
    assert "ledger console-link --role" in r.text
    assert (
        ledger.client.get("/console", follow_redirects=False)
        .headers["location"]
        .startswith("/console/sign-in")
    )


def test_a_link_signs_in_once_with_an_httponly_strict_cookie(ledger: Ledger) -> None:
    token = link(ledger, "cs")
    page = ledger.client.get("/console/sign-in", params={"link": token})
    assert page.status_code == 200 and "Sign in as cs" in page.text  # a GET never uses the link up
    r = ledger.client.post("/console/sign-in", data={"link": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    home = ledger.client.get("/console")
    assert home.status_code == 200 and "Signed in as" in home.text and "cs" in home.text
    assert token not in home.text  # no credential in the page
    ledger.client.cookies.clear()
    again = ledger.client.post("/console/sign-in", data={"link": token}, follow_redirects=False)
    assert again.status_code == 409 and "already been used" in again.text
    assert COOKIE not in again.headers.get("set-cookie", "")


@pytest.mark.parametrize("problem", ["expired", "tampered", "bearer"])
def test_a_bad_link_is_refused_and_says_why(ledger: Ledger, problem: str) -> None:
    token = {
        "expired": lambda: _expired(ledger),
        "tampered": lambda: link(ledger, "ops")[:-3] + "AAA",
        "bearer": lambda: ledger.token("ops"),  # an API token is not a sign-in link
    }[problem]()
    r = ledger.client.post("/console/sign-in", data={"link": token}, follow_redirects=False)
    assert r.status_code == 400
    assert ("expired" in r.text) == (problem == "expired")
    assert "set-cookie" not in r.headers


def _expired(ledger: Ledger) -> str:
    token = link(ledger, "ops", minutes=1)
    ledger.runtime.deps.clock = lambda: datetime.now(UTC) + timedelta(minutes=2)
    return token


def test_a_session_cookie_is_not_an_api_token(ledger: Ledger) -> None:
    assert sign_in(ledger.client, link(ledger, "ops")).status_code == 303  # type: ignore[attr-defined]
    cookie = ledger.client.cookies[COOKIE]
    r = ledger.client.get("/ops/projections", headers={"Authorization": f"Bearer {cookie}"})
    assert r.status_code == 401


@pytest.mark.parametrize(("role", "subject"), [("patient", "pat-1"), ("clinic", "clinic-user-1")])
def test_patient_and_clinic_sessions_get_403_on_operator_pages(
    ledger: Ledger, role: str, subject: str
) -> None:
    assert sign_in(ledger.client, link(ledger, role, subject)).status_code == 303  # type: ignore[attr-defined]
    r = ledger.client.get("/console", follow_redirects=False)
    assert r.status_code == 403 and f"The {role} role may not open this page" in r.text


def test_sign_out_needs_the_csrf_token_and_ends_the_session(ledger: Ledger) -> None:
    assert sign_in(ledger.client, link(ledger, "staff")).status_code == 303  # type: ignore[attr-defined]
    refused = ledger.client.post("/console/sign-out", follow_redirects=False)
    assert refused.status_code == 403 and "security token" in refused.text
    wrong = ledger.client.post("/console/sign-out", data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert wrong.status_code == 403
    assert ledger.client.get("/console").status_code == 200  # still signed in
    stolen = ledger.client.cookies[COOKIE]
    r = ledger.client.post("/console/sign-out", data={"csrf_token": csrf_of(ledger)}, follow_redirects=False)
    assert r.status_code == 303
    ledger.client.cookies.set(COOKIE, stolen)  # a copy of the cookie kept from before is dead too
    assert ledger.client.get("/console", follow_redirects=False).status_code == 303


def test_a_session_expires(ledger: Ledger) -> None:
    assert sign_in(ledger.client, link(ledger, "cs")).status_code == 303  # type: ignore[attr-defined]
    assert ledger.client.get("/console", follow_redirects=False).status_code == 200
    ledger.runtime.deps.clock = lambda: datetime.now(UTC) + timedelta(hours=9)
    r = ledger.client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/sign-in")


def test_a_link_from_another_site_is_refused(ledger: Ledger) -> None:
    r = ledger.client.post(
        "/console/sign-in",
        data={"link": link(ledger, "cs")},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_next_never_leaves_the_console(ledger: Ledger) -> None:
    r = sign_in(ledger.client, link(ledger, "cs"), next="https://evil.example/console")
    assert r.headers["location"] == "/console"  # type: ignore[attr-defined]
