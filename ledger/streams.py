"""Wiring for the event feed, the hash-chain sealer and compliance exports (called by the bootstrap);
the sealer's background worker is `ledger.workers.start_sealer`."""

from __future__ import annotations

from api.routes_events import STREAM_OPENAPI
from api.runtime import Runtime
from projections.sealer import ensure_chain_schema


def wire_streams(runtime: Runtime) -> None:
    """The hash chain's tables, SSE wake-ups on this process's commits, and the feed's OpenAPI paths."""
    ensure_chain_schema(runtime.views)
    runtime.deps.after_commit.append(runtime.event_wakeup.notify)
    runtime.openapi_paths.update(STREAM_OPENAPI)
