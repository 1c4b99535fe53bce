"""Running a compliance export as an audited job: requested (an event), written, then completed or failed
(another event). Shared by `POST /compliance/exports` (in a background thread) and `ledger export`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog

from adapters.chain import Signer
from domain.audit import ComplianceExport
from domain.errors import Conflict
from domain.events import Actor
from projections.db import ViewDatabase
from replay.export import ExportFailed, Scope, manifest_digest, run_export
from replay.export_index import running_exports
from service import audit
from service.deps import Deps
from service.unit import Context

log = structlog.get_logger("compliance")

# The error an export left `running` by a stopped process is failed with (shown over the API as is).
INTERRUPTED = "interrupted: the ledger stopped while writing it; request it again"


@dataclass(frozen=True)
class ExportJobs:
    """What an export needs, handed in by the composition root: the store, the views, the key."""

    deps: Deps
    views: ViewDatabase
    signer: Signer
    export_dir: Path


def perform_export(
    jobs: ExportJobs,
    ctx: Context,
    export: ComplianceExport,
    *,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> ComplianceExport:
    req = export.requested
    scope = Scope(ctx.organization_id, req.patient_id, req.order_id, req.period_from, req.period_to)
    out = jobs.export_dir / export.id
    deps = jobs.deps
    try:
        manifest: dict[str, Any] = run_export(
            deps.store,
            jobs.views,
            jobs.signer,
            scope,
            out,
            export_id=export.id,
            purpose=req.purpose,
            requested_by=req.requested_by,
            progress=progress,
            on_total=on_total,
        )
    except ExportFailed as exc:
        log.warning("export_failed", export_id=export.id, error=str(exc))
        return audit.fail_export(deps, ctx, export.id, str(exc))
    except Exception as exc:
        log.exception("export_crashed", export_id=export.id, error_type=type(exc).__name__)
        return audit.fail_export(deps, ctx, export.id, f"internal error ({type(exc).__name__})")
    log.info("export_completed", export_id=export.id, events=manifest["counts"]["events"])
    return audit.complete_export(
        deps,
        ctx,
        export.id,
        events=manifest["counts"]["events"],
        first_position=manifest["positions"]["first"],
        last_position=manifest["positions"]["last"],
        manifest_sha256=manifest_digest(out),
        location=str(out),
    )


def perform_in_background(jobs: ExportJobs, ctx: Context, export: ComplianceExport) -> threading.Thread:
    thread = threading.Thread(
        target=perform_export, args=(jobs, ctx, export), daemon=True, name=f"export-{export.id[:8]}"
    )
    thread.start()
    return thread


def fail_interrupted(deps: Deps, *, older_than: timedelta) -> list[str]:
    """Fail the exports a stopped process left `running`: they run in a thread of the process that
    took the request, so one requested longer ago than any export takes has no writer left.
    Called at start-up; returns the ids it failed."""
    cutoff = deps.clock() - older_than
    failed: list[str] = []
    for organization_id, export in running_exports(deps.store):
        if export.requested.requested_at > cutoff:
            continue  # may still be running in another live process
        ctx = Context(
            Actor(kind="system", id="export-recovery"), organization_id, export.id, "export-recovery"
        )
        try:
            audit.fail_export(deps, ctx, export.id, INTERRUPTED)
        except Conflict as exc:  # finished meanwhile by its own process: nothing to recover
            log.info("export_recovery_skipped", export_id=export.id, error_type=type(exc).__name__)
            continue
        log.warning("export_interrupted", export_id=export.id)
        failed.append(export.id)
    return failed
