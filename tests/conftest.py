"""Shared fixtures for tests that need PostgreSQL or NATS.

Provisioning failures skip on a laptop (with the reason) but fail under CI=true,
because a silently skipped integration suite in CI reads as green while testing nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.support import nats as nats_support
from tests.support import postgres as pg_support


def _unavailable(what: str, exc: Exception) -> NoReturn:
    reason = f"{what} unavailable: {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(f"SKIPPED (would FAIL in CI): {reason}")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """A server URL whose user may CREATE DATABASE (see tests/support/postgres.py)."""
    try:
        return pg_support.server_url()
    except Exception as exc:
        _unavailable("PostgreSQL", exc)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test only; dropped afterwards."""
    with pg_support.fresh_database(server=pg_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def nats_server_url() -> str:
    """A NATS URL with JetStream enabled (see tests/support/nats.py)."""
    try:
        return nats_support.nats_url()
    except Exception as exc:
        _unavailable("NATS JetStream", exc)
