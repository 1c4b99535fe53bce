"""Compliance exports: `POST /compliance/exports` (202, runs in the background), its status and manifest."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from api.auth import authenticate, require
from api.endpoint import Call, Reply, endpoint
from api.problems import Problem
from api.runtime import Runtime
from domain.audit import ComplianceExport, validate_scope
from domain.errors import NotFound
from replay.export_index import export_file, recent_exports
from service import audit, catalog, orders
from service.compliance_jobs import perform_in_background
from service.unit import Context

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DOWNLOAD_TYPE = "application/octet-stream"
ERRORS: dict[int, type[Problem]] = {
    400: Problem,
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    422: Problem,
}


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    patient_id: Id | None = None
    order_id: Id | None = None
    period_from: AwareDatetime | None = Field(None, alias="from")
    period_to: AwareDatetime | None = Field(None, alias="to")
    purpose: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ExportScopeOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    patient_id: str | None
    order_id: str | None
    period_from: datetime | None = Field(alias="from")
    period_to: datetime | None = Field(alias="to")


class ExportOut(BaseModel):
    id: str
    status: Literal["running", "completed", "failed"]
    scope: ExportScopeOut
    purpose: str
    requested_by: str
    requested_at: datetime
    completed_at: datetime | None = None
    events: int | None = None
    location: str | None = None
    manifest_sha256: str | None = None
    error: str | None = None
    manifest: dict[str, Any] | None = None


def export_out(export: ComplianceExport, *, with_manifest: bool = False) -> ExportOut:
    r, done = export.requested, export.completed
    manifest = None
    if with_manifest and done is not None:
        path = Path(done.location) / "manifest.json"
        manifest = json.loads(path.read_text()) if path.exists() else None
    return ExportOut(
        id=export.id,
        status=export.status,
        purpose=r.purpose,
        requested_by=r.requested_by,
        requested_at=r.requested_at,
        scope=ExportScopeOut(
            patient_id=r.patient_id, order_id=r.order_id, period_from=r.period_from, period_to=r.period_to
        ),
        completed_at=done.completed_at if done else None,
        events=done.events if done else None,
        location=done.location if done else None,
        manifest_sha256=done.manifest_sha256 if done else None,
        error=export.error,
        manifest=manifest,
    )


@endpoint(
    "POST",
    "/compliance/exports",
    summary="Export a patient's, an order's or a period's events (audited)",
    roles=("compliance",),
    tag="compliance",
    body=ExportIn,
    responses={202: ExportOut, **ERRORS},
)
def create_export(call: Call) -> Reply:
    b: ExportIn = call.body
    deps, ctx = call.runtime.deps, call.ctx()
    validate_scope(b.purpose, b.patient_id, b.order_id, b.period_from, b.period_to)  # 422 before any 404
    if b.patient_id is not None:
        catalog.get_patient(deps, ctx, b.patient_id)  # 404 when not this organization's
    if b.order_id is not None:
        orders.get_order(deps, ctx, b.order_id)
    export = audit.start_export(
        deps,
        ctx,
        purpose=b.purpose,
        patient_id=b.patient_id,
        order_id=b.order_id,
        period_from=b.period_from,
        period_to=b.period_to,
    )
    perform_in_background(call.runtime.export_jobs(), ctx, export)
    return Reply(202, export_out(export), headers={"Location": f"/compliance/exports/{export.id}"})


@endpoint(
    "GET",
    "/compliance/exports/{export_id}",
    summary="An export's status and its signed manifest",
    roles=("compliance",),
    tag="compliance",
    responses={200: ExportOut, **ERRORS},
)
def get_export(call: Call) -> Reply:
    export = audit.get_export(call.runtime.deps, call.ctx(), call.path("export_id"))
    return Reply(200, export_out(export, with_manifest=True))


class ExportListOut(BaseModel):
    exports: list[ExportOut]


@endpoint(
    "GET",
    "/compliance/exports",
    summary="This organization's exports, newest first, with their status",
    roles=("compliance",),
    tag="compliance",
    responses={200: ExportListOut, **ERRORS},
)
def list_exports(call: Call) -> Reply:
    found = recent_exports(call.runtime.deps.store, call.principal.organization_id)
    return Reply(200, ExportListOut(exports=[export_out(e) for e in found]))


async def download_file(request: Request) -> Response:
    """One file of a completed export, as signed; the download itself is recorded (who, which file)."""
    runtime: Runtime = request.app.state.runtime
    principal = authenticate(runtime.token_secret, request.headers.get("authorization"), runtime.token_policy)
    require(principal, ("compliance",))
    ctx = Context(principal.actor, principal.organization_id, str(uuid.uuid4()), "export-download")
    export_id, name = request.path_params["export_id"], request.path_params["name"]

    def find() -> Path:
        export = audit.get_export(runtime.deps, ctx, export_id)  # another organization's: not found
        path = export_file(export, name)
        if path is None:
            raise NotFound("No such file in this export.")
        audit.record_download(runtime.deps, ctx, export.id, name)
        return path

    path = await run_in_threadpool(find)
    # The bytes as signed, typed as the document says: a type guessed from the name would vary with the
    # host's mime table (`.jsonl` has none) and break the published contract.
    return FileResponse(path, filename=name, media_type=DOWNLOAD_TYPE, headers={"Cache-Control": "no-store"})


DOWNLOAD_OPENAPI: dict[str, Any] = {
    "/compliance/exports/{export_id}/files/{name}": {
        "get": {
            "summary": "Download one file of a completed export (the download is recorded)",
            "tags": ["compliance"],
            "operationId": "getComplianceExportFile",
            "description": "Roles: compliance. `name` is `manifest.json` or a file the manifest lists "
            "(`events.jsonl`, `events.csv`). Check the copy offline with `ledger verify-export DIR`.",
            "parameters": [
                {"name": "export_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The file as signed",
                    "content": {DOWNLOAD_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                },
                **{
                    str(code): {
                        "description": text,
                        "content": {
                            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    }
                    for code, text in (
                        (401, "Missing, malformed or expired token"),
                        (403, "Role not allowed"),
                        (404, "No such export, or no such file in it"),
                    )
                },
            },
        }
    }
}

routes = [
    create_export,
    get_export,
    list_exports,
    Route(
        "/compliance/exports/{export_id}/files/{name}",
        download_file,
        methods=["GET"],
        include_in_schema=False,
    ),
]
