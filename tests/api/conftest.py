from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app import Ledger, running_ledger


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """The whole service over HTTP (in-process), on each store in turn."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with running_ledger(tmp_path, url) as running:
        yield running


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    with running_ledger(tmp_path) as running:
        yield running
