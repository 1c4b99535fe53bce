"""A worker SIGKILLed mid-page, then restarted, loses and duplicates nothing (checked against the store)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

from domain.aggregates import fold
from domain.status import order_status
from projections.runner import catch_up, ensure_schema, position_of
from tests.support_views import crash_worker
from tests.support_views.world import world

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("store_kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_killed_mid_page_then_restarted(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    with world(tmp_path, url) as w:
        store, views = w.runtime.deps.store, w.runtime.views
        head = store.last_position()
        assert head > crash_worker.PAGE * 4
        for victim in crash_worker.projections(store):
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support_views.crash_worker",
                    victim.name,
                    str(tmp_path),
                    *([url] if url else []),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                assert line.strip() == "MID-PAGE", line
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
            # Two pages were committed; the third died half-applied.
            assert 0 < position_of(views, victim.name) < head
        restarted = crash_worker.projections(store)
        ensure_schema(views, restarted)
        for p in restarted:
            catch_up(store, views, p, page=crash_worker.PAGE)

        notes = list(store.iter_notifications())
        with views.transaction() as cur:
            cur.execute("SELECT position, type FROM crash_copy ORDER BY position")
            copied = [(int(a), str(b)) for a, b in cur.fetchall()]
            cur.execute("SELECT order_id, status FROM crash_status")
            statuses = {str(a): str(b) for a, b in cur.fetchall()}
        assert copied == [(n.id, n.topic) for n in notes]  # every event once, in order
        order_ids = {str(n.originator_id) for n in notes if n.topic == "OrderPlaced"}
        expected = {
            oid: order_status(fold("order", oid, (e.fact for e in store.stream(UUID(oid)))))
            for oid in order_ids
        }
        assert statuses == expected
