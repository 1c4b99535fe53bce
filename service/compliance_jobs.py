"""Running a compliance export as an audited job: requested (an event), written, then completed or failed
(another event). Shared by `POST /compliance/exports` (in a background thread) and `ledger export`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from adapters.chain import Signer
from domain.audit import ComplianceExport
from projections.db import ViewDatabase
from replay.export import ExportFailed, Scope, manifest_digest, run_export
from service import audit
from service.deps import Deps
from service.unit import Context

log = structlog.get_logger("compliance")


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
