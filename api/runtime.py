"""What the HTTP layer is handed by the bootstrap: services, read models, secrets and workers.

Every collaborator is a named, typed field built by `ledger/bootstrap.py` (the composition root); a
feature that needs a new one adds a field here and builds it there, never a string-keyed bag.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.chain import Signer
from adapters.pharmacy import PharmacyClient
from api.auth import TokenPolicy
from projections.db import ViewDatabase
from projections.runner import Projection, catch_up
from projections.worker import ProjectionWorker
from service.compliance_jobs import ExportJobs
from service.deps import Deps
from service.feed import Wakeup
from service.medical_review import VisitSubmitter
from service.policies import Policies
from service.timers import TimerRunner


@dataclass
class Runtime:
    deps: Deps
    views: ViewDatabase
    projections: Sequence[Projection]
    token_secret: str
    organization_id: str
    signer: Signer  # seals checkpoints and signs compliance exports (LEDGER_SIGNING_KEY)
    export_dir: Path  # where compliance exports are written
    policies: Policies  # fulfillment gate, pharmacy submitter, medical-review auto-submit
    timers: TimerRunner  # fires due durable timers: subscription cycles, their charges, dunning retries
    timer_poll_seconds: float = 1.0  # LEDGER_TIMER_POLL_SECONDS: the timer worker's longest sleep
    beluga: VisitSubmitter | None = None  # None: submissions are recorded as failed, naming the setting
    pharmacies: Mapping[str, PharmacyClient] = field(default_factory=dict)
    webhook_secrets: dict[str, str] = field(default_factory=dict)
    event_wakeup: Wakeup = field(default_factory=Wakeup)  # woken by this process's commits (SSE)
    stream_poll_seconds: float = 1.0  # SSE: how often to look for other processes' commits
    stream_ping_seconds: float = 15.0  # SSE: keep-alive comments
    openapi_paths: dict[str, Any] = field(default_factory=dict)  # routes outside the endpoint table
    projection_worker: ProjectionWorker | None = None  # set when this process runs it (`serve`)
    rebuilds: dict[str, dict[str, Any]] = field(default_factory=dict)  # projection -> rebuild progress
    rebuild_lock: threading.Lock = field(default_factory=threading.Lock)
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)
    token_policy: TokenPolicy | None = None  # organizations served, lifetime caps (None: not checked)

    def export_jobs(self) -> ExportJobs:
        """What a compliance export needs, for the HTTP route, the console and the CLI alike."""
        return ExportJobs(self.deps, self.views, self.signer, self.export_dir)

    def refresh_views(self) -> None:
        """Read-your-writes: bring every projection up to the log's head before a query."""
        for projection in self.projections:
            catch_up(self.deps.store, self.views, projection)

    def projection(self, name: str) -> Projection:
        return next(p for p in self.projections if p.name == name)

    def shutdown(self) -> None:
        """Run the shutdown hooks, last registered first (workers stop before what they read closes)."""
        for hook in reversed(self.on_shutdown):
            hook()
