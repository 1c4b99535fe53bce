"""Rebuild jobs: start a projection's rebuild beside its live version in a thread, and follow it.

`POST /ops/projections/{name}/rebuild` and the console's projections page both start rebuilds here,
so a rebuild started from either is seen by both. Progress lives in the process that runs it.
"""

from __future__ import annotations

import threading
from typing import Any

from adapters.eventstore import LedgerStore
from domain.errors import Conflict
from projections.db import ViewDatabase
from projections.runner import Projection, is_versioned
from replay.rebuild import Progress, rebuild

FINISHED = ("done", "failed")


def start_rebuild(
    store: LedgerStore,
    views: ViewDatabase,
    projection: Projection,
    rebuilds: dict[str, dict[str, Any]],
    lock: threading.Lock,
) -> dict[str, Any]:
    """Start the rebuild and return its progress record (updated in place while it runs)."""
    if not is_versioned(projection):
        raise Conflict(
            "This projection cannot be rebuilt beside its live version.", reasons=("NOT_REBUILDABLE",)
        )
    with lock:
        current = rebuilds.get(projection.name)
        if current is not None and current["phase"] not in FINISHED:
            raise Conflict("A rebuild of this projection is already running.", reasons=("REBUILD_RUNNING",))
        state: dict[str, Any] = {"phase": "starting", "done": 0, "total": 0, "rate": 0.0, "eta_seconds": None}
        rebuilds[projection.name] = state

    def report(p: Progress) -> None:
        state.update(
            phase=p.phase,
            done=p.done,
            total=p.total,
            rate=round(p.rate, 1),
            eta_seconds=None if p.eta_seconds is None else round(p.eta_seconds, 1),
        )

    def run() -> None:
        try:
            rebuild(store, views, projection, report=report)
        except Exception as exc:  # reported with the progress
            state.update(phase="failed", error=type(exc).__name__)

    threading.Thread(target=run, name=f"rebuild-{projection.name}", daemon=True).start()
    return state
