"""Compliance exports in the console: create one (scope and purpose), follow its status, read its
manifest and download its files, each download recorded (`ComplianceExportDownloaded`)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse, RedirectResponse, Response

from api.console.pages import EXPORT_ROLES, SECURITY_HEADERS, Page, View, page
from domain.audit import ComplianceExport, validate_scope
from domain.errors import InvalidCommand, NotFound
from replay.export_index import recent_exports
from service import audit, catalog, orders
from service.compliance_jobs import perform_in_background

MANIFEST = "manifest.json"


def _manifest(export: ComplianceExport) -> dict[str, Any] | None:
    done = export.completed
    if done is None:
        return None
    path = Path(done.location) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def _row(export: ComplianceExport) -> dict[str, Any]:
    r = export.requested
    manifest = _manifest(export)
    files = []
    if manifest is not None:
        files = [{"name": name, **info} for name, info in manifest["files"].items()]
        size = (Path(export.completed.location) / MANIFEST).stat().st_size if export.completed else 0
        files.append(
            {
                "name": MANIFEST,
                "bytes": size,
                "sha256": export.completed.manifest_sha256 if export.completed else "",
            }
        )
    if r.patient_id:
        scope = f"patient {r.patient_id}"
    elif r.order_id:
        scope = f"order {r.order_id}"
    else:
        scope = f"period {r.period_from or '…'} to {r.period_to or '…'}"
    return {
        "id": export.id,
        "status": export.status,
        "scope": scope,
        "purpose": r.purpose,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at,
        "error": export.error,
        "manifest": manifest,
        "files": files,
    }


@page("/console/exports", roles=EXPORT_ROLES)
def exports(call: Page) -> View:
    rows = [_row(e) for e in recent_exports(call.runtime.deps.store, call.principal.organization_id)]
    running = any(r["status"] == "running" for r in rows)
    return View(
        "exports.html",
        {"rows": rows, "running": running, "created": call.request.query_params.get("created")},
    )


def _when(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCommand(f"`{name}` is not a date and time.", field=name) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


@page("/console/exports", roles=EXPORT_ROLES, methods=("POST",))
def create(call: Page) -> Response:
    deps, ctx = call.runtime.deps, call.ctx()
    kind, value = call.field("scope"), call.field("scope_value")
    patient_id = value if kind == "patient" else None
    order_id = value if kind == "order" else None
    period_from = _when(call.field("from"), "from") if kind == "period" else None
    period_to = _when(call.field("to"), "to") if kind == "period" else None
    validate_scope(call.field("purpose"), patient_id, order_id, period_from, period_to)
    if patient_id is not None:
        catalog.get_patient(deps, ctx, patient_id)  # not this organization's: not found
    if order_id is not None:
        order_id = orders.get_order(deps, ctx, order_id).id
    export = audit.start_export(
        deps,
        ctx,
        purpose=call.field("purpose"),
        patient_id=patient_id,
        order_id=order_id,
        period_from=period_from,
        period_to=period_to,
    )
    perform_in_background(call.runtime.export_jobs(), ctx, export)
    return RedirectResponse(f"/console/exports?created={export.id}", status_code=303)


@page("/console/exports/{export_id}/files/{name}", roles=EXPORT_ROLES)
def download(call: Page) -> Response:
    deps, ctx = call.runtime.deps, call.ctx()
    export = audit.get_export(deps, ctx, call.path("export_id"))
    name = call.path("name")
    manifest = _manifest(export)
    if export.completed is None or manifest is None or (name != MANIFEST and name not in manifest["files"]):
        raise NotFound("No such file in this export.")
    audit.record_download(deps, ctx, export.id, name)
    return FileResponse(
        Path(export.completed.location) / name,
        filename=name,
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )
