"""The stuck-orders page reads the ledger's injected clock, as the API's `/ops/stuck` does: ages and
the "older than" filter are measured from the ledger's now, not the machine's (`LEDGER_NOW`, tests)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.console.session import issue_link_token
from tests.support.app import ORG, Ledger, running_ledger
from tests.support.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    # Weeks behind the machine's time (a link issued "in the future" is refused by its JWT check).
    return ManualClock(datetime.now(UTC) - timedelta(days=30))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[Ledger]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with running_ledger(tmp_path, url, clock=clock) as running:
        yield running


def _sign_in(ledger: Ledger, clock: ManualClock, role: str) -> None:
    link = issue_link_token(
        ledger.runtime.token_secret, role=role, subject=None, organization_id=ORG, now=clock()
    )
    r = ledger.client.post("/console/sign-in", data={"link": link}, follow_redirects=False)
    assert r.status_code == 303, r.text  # the session cookie stays in the client


def _row(html: str, number: str) -> str | None:
    found = re.search(rf'<tr data-order="{number}">(.*?)</tr>', html, re.S)
    return found.group(1) if found else None


def test_ages_on_the_stuck_page_are_measured_by_the_ledgers_clock(ledger: Ledger, clock: ManualClock) -> None:
    product = ledger.product()
    patient = ledger.patient()
    number = ledger.placed_order(patient, [(product["id"], 1)])["order"]["number"]  # unpaid: waits to be paid
    clock.advance(days=3, minutes=5)
    _sign_in(ledger, clock, "ops")

    page = ledger.client.get("/console/stuck")
    assert page.status_code == 200, page.text
    row = _row(page.text, number)
    assert row is not None, "the unpaid order is not listed"
    assert re.search(r'data-label="Age">3 d<', row), row

    three_days = 3 * 24 * 60  # minutes
    assert _row(ledger.client.get(f"/console/stuck?older_than={three_days}").text, number) is not None
    assert _row(ledger.client.get(f"/console/stuck?older_than={three_days + 10}").text, number) is None
