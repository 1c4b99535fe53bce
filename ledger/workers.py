"""Background workers `ledger serve` runs in-process: the projection worker."""

from __future__ import annotations

from api.runtime import Runtime
from projections.worker import ProjectionWorker


def start_projection_worker(runtime: Runtime, *, poll_interval: float = 0.5) -> ProjectionWorker:
    """Keep every registered projection caught up in a daemon thread; stopped on shutdown."""
    worker = ProjectionWorker(
        runtime.deps.store, runtime.views, runtime.projections, poll_interval=poll_interval
    ).start()
    runtime.extras["projection_worker"] = worker
    runtime.on_shutdown.insert(0, worker.stop)  # before the views and the store close
    return worker
