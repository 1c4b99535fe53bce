"""The crash tests' cluster: localstripe and the pharmacy sandbox live for one test, the ledger's
server and worker are started (and killed) by the test itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox.pharmacy_server import create_pharmacy_sandbox
from adapters.sandbox.runner import serve_in_thread
from tests.crash.driver import PHARMACY_KEY, Cluster
from tests.support.localstripe import start_localstripe


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    with (
        start_localstripe() as stripe_url,
        serve_in_thread(create_pharmacy_sandbox(None, "unused", PHARMACY_KEY)) as pharmacy,
    ):
        c = Cluster(pg_url, stripe_url, pharmacy.url, tmp_path)
        try:
            yield c
        finally:
            c.stop()
