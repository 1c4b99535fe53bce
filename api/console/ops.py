"""Ops pages: projections with their position, lag and last error, and rebuilds with live progress."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

from starlette.responses import JSONResponse, RedirectResponse, Response

from api.console.pages import PROJECTION_ROLES, SECURITY_HEADERS, Page, View, page
from domain.errors import NotFound
from projections.errors import last_errors
from projections.runner import Projection, is_versioned
from projections.worker import lag_of
from replay.rebuild_jobs import start_rebuild


def _rebuilds(call: Page) -> tuple[dict[str, dict[str, Any]], threading.Lock]:
    # the same registry `POST /ops/projections/{name}/rebuild` uses
    return call.runtime.rebuilds, call.runtime.rebuild_lock


def _projection(call: Page, name: str) -> Projection:
    found = next((p for p in call.runtime.projections if p.name == name), None)
    if found is None:
        raise NotFound("No such projection.")
    return found


@page("/console/projections", roles=PROJECTION_ROLES)
def projections(call: Page) -> View:
    rt = call.runtime
    rebuilds, _ = _rebuilds(call)
    errors = last_errors(rt.views)
    rows = []
    for p in rt.projections:
        lag = lag_of(rt.deps.store, rt.views, p)
        rows.append(
            {
                "name": p.name,
                "position": lag.position,
                "head": lag.head,
                "events_behind": lag.events_behind,
                "seconds_behind": lag.seconds_behind,
                "error": errors.get(p.name),
                "rebuildable": is_versioned(p),
                "rebuild": rebuilds.get(p.name),
            }
        )
    return View("projections.html", {"rows": rows, "started": call.request.query_params.get("started")})


@page("/console/projections/{name}/rebuild", roles=PROJECTION_ROLES, methods=("POST",))
def rebuild(call: Page) -> Response:
    projection = _projection(call, call.path("name"))
    rebuilds, lock = _rebuilds(call)
    start_rebuild(call.runtime.deps.store, call.runtime.views, projection, rebuilds, lock)
    return RedirectResponse(f"/console/projections?started={quote(projection.name)}", status_code=303)


@page("/console/projections/{name}/progress", roles=PROJECTION_ROLES)
def progress(call: Page) -> Response:
    """The rebuild's progress as JSON, polled by the page each second while it runs."""
    projection = _projection(call, call.path("name"))
    rebuilds, _ = _rebuilds(call)
    state = rebuilds.get(projection.name) or {"phase": "idle", "done": 0, "total": 0, "rate": 0.0}
    return JSONResponse({"eta_seconds": None, "error": None, **state}, headers=SECURITY_HEADERS)
