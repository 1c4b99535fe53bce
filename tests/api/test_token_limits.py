"""Tokens (issue 10, defect 9): the organization must be one this deployment serves, and lifetimes
are capped — 24 h for people, `LEDGER_SERVICE_TOKEN_MAX_HOURS` for services. Refused tokens are 401
and write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from api.auth import issue_token
from tests.support.app import Ledger, running_ledger

PATIENT = {"name": "Pat Example", "email": "pat@example.com", "state": "TX"}


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with running_ledger(
        tmp_path, LEDGER_SERVED_ORGANIZATIONS="org_sister", LEDGER_SERVICE_TOKEN_MAX_HOURS="48"
    ) as running:
        yield running


def _token(ledger: Ledger, role: str, org: str, lifetime: timedelta) -> dict[str, str]:
    now = datetime.now(UTC)
    claims = {"role": role, "org": org, "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp())}
    return {"Authorization": "Bearer " + jwt.encode(claims, ledger.runtime.token_secret, algorithm="HS256")}


def test_a_token_for_an_organization_not_served_here_is_refused_and_creates_nothing(ledger: Ledger) -> None:
    home = ledger.settings.organization_id
    before = ledger.runtime.deps.store.last_position()
    r = ledger.client.post(
        "/patients", json=PATIENT, headers=_token(ledger, "staff", "org_nowhere", timedelta(hours=1))
    )
    assert r.status_code == 401 and "not served" in r.json()["detail"]
    assert ledger.runtime.deps.store.last_position() == before
    for org in (home, "org_sister"):  # the ones it serves
        r = ledger.client.post(
            "/patients", json=PATIENT, headers=_token(ledger, "staff", org, timedelta(hours=1))
        )
        assert r.status_code == 201, r.text


def test_lifetimes_are_capped_for_people_and_for_services(ledger: Ledger) -> None:
    home = ledger.settings.organization_id
    cases = [
        ("staff", timedelta(hours=24), 201),
        ("staff", timedelta(days=3650), 401),  # the ten-year token
        ("staff", timedelta(hours=25), 401),
        ("service", timedelta(hours=48), 201),
        ("service", timedelta(hours=49), 401),  # LEDGER_SERVICE_TOKEN_MAX_HOURS=48
    ]
    got = [
        (
            role,
            lifetime,
            ledger.client.post(
                "/patients", json=PATIENT, headers=_token(ledger, role, home, lifetime)
            ).status_code,
        )
        for role, lifetime, _ in cases
    ]
    assert got == cases
    with pytest.raises(ValueError, match="at most"):
        issue_token(
            "s",
            role="patient",
            subject="p",
            organization_id=home,
            now=datetime.now(UTC),
            ttl=timedelta(days=2),
        )
