"""An export whose process stopped mid-write does not read `running` forever: the next start fails it
with a reason the requester can act on, once it is older than any export takes (never a fresh one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from domain.events import Actor
from service import audit
from service.compliance_jobs import INTERRUPTED
from service.unit import Context
from tests.support.app import ORG, Ledger, running_ledger


def status(ledger: Ledger, export_id: str) -> dict[str, object]:
    r = ledger.call("GET", f"/compliance/exports/{export_id}", "compliance")
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_an_export_interrupted_by_a_stop_is_failed_at_the_next_start(tmp_path: Path) -> None:
    with running_ledger(tmp_path) as first:
        ctx = Context(Actor(kind="compliance", id="c-1"), ORG, "corr", "cause")
        # The crash: the request is recorded, and the thread that would write it never runs.
        export = audit.start_export(first.runtime.deps, ctx, purpose="audit #7", order_id="ord_x")
        assert status(first, export.id)["status"] == "running"

    with running_ledger(tmp_path) as soon:  # restarted at once: it may still be another process's
        assert status(soon, export.id)["status"] == "running"

    later = datetime.now(UTC) + timedelta(minutes=11)
    with running_ledger(tmp_path, clock=lambda: later) as restarted:
        body = status(restarted, export.id)
        assert body["status"] == "failed", body
        assert body["error"] == INTERRUPTED

    with running_ledger(tmp_path, clock=lambda: later) as again:  # failed once, not on every start
        assert status(again, export.id)["status"] == "failed"
        events = list(again.runtime.deps.store.stream(UUID(export.id)))
        assert len(events) == 2
