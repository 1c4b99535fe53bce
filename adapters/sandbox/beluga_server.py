"""A local Beluga: accepts visits in the wire format of `adapters.beluga`, in memory.

Used by the tests and the demo. Control endpoints (not part of Beluga's API):
  GET  /_sandbox/visits                               every visit received, with its submissions
  POST /_sandbox/visits/{masterId}/rx-written         {"medIds": [...]}? -> signed RX_WRITTEN
  POST /_sandbox/visits/{masterId}/events/{event}     CONSULT_CONCLUDED | CONSULT_CANCELED
  POST /_sandbox/events/{eventId}/redeliver           the same event again (duplicate delivery)
  POST /_sandbox/fail-next                            {"status", "code", "message", "times"}
Webhook-sending endpoints answer {"payload", "url", "status", "error"}: what was sent and the
HTTP status the receiver gave.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.beluga import CONSULT_CANCELED, CONSULT_CONCLUDED, RX_WRITTEN
from adapters.sandbox.delivery import Clock, deliver, error, json_body, queue_failures, rfc3339

_OUTCOMES = {CONSULT_CONCLUDED: "concluded", CONSULT_CANCELED: "canceled"}


class BelugaSandboxState:
    """In-memory visits; the lock matters when tests read the state from another thread."""

    def __init__(self, webhook_url: str | None, webhook_secret: str, api_key: str, clock: Clock) -> None:
        self.webhook_url = webhook_url  # settable after start, when the receiver starts later
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.clock = clock
        self.lock = threading.Lock()
        self.visits: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.failures: list[dict[str, Any]] = []


def _invalid(payload: dict[str, Any]) -> str | None:
    """The first missing or malformed field of a visit submission, or None."""
    for name in ("masterId", "visitType", "pharmacy", "referenceId"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            return name
    patient = payload.get("patient")
    if not isinstance(patient, dict):
        return "patient"
    for name in ("ref", "state"):
        if not isinstance(patient.get(name), str) or not patient[name]:
            return f"patient.{name}"
    meds = payload.get("medsRequested")
    if not isinstance(meds, list) or not meds:
        return "medsRequested"
    for i, med in enumerate(meds):
        if not isinstance(med, dict) or not isinstance(med.get("medId"), str) or not med["medId"]:
            return f"medsRequested[{i}].medId"
    return None


def create_beluga_sandbox(
    webhook_url: str | None, webhook_secret: str, api_key: str, clock: Clock = time.time
) -> Starlette:
    state = BelugaSandboxState(webhook_url, webhook_secret, api_key, clock)

    async def submit_visit(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {state.api_key}":
            return error(401, "UNAUTHORIZED", "missing or wrong API key")
        with state.lock:
            failure = state.failures.pop(0) if state.failures else None
        if failure is not None:
            return error(failure["status"], failure["code"], failure["message"])
        try:
            payload = await json_body(request)
        except ValueError:
            return error(400, "INVALID_JSON", "body is not a JSON object")
        bad = _invalid(payload)
        if bad is not None:
            return error(422, "INVALID_REQUEST", f"missing or invalid field {bad}")
        master_id = payload["masterId"]
        with state.lock:
            visit = state.visits.get(master_id)
            created = visit is None
            if visit is None:
                visit = {
                    "masterId": master_id,
                    "visitId": f"vis_{uuid.uuid4().hex[:12]}",
                    "status": "received",
                    "request": payload,
                    "submissions": 0,
                }
                state.visits[master_id] = visit
            visit["submissions"] += 1
            body = {"masterId": master_id, "status": "received", "visitId": visit["visitId"]}
        return JSONResponse(body, status_code=201 if created else 200)

    async def list_visits(request: Request) -> Response:
        with state.lock:
            return JSONResponse(list(state.visits.values()))

    async def send_event(master_id: str, event: str, meds: list[dict[str, str]], outcome: str) -> Response:
        payload: dict[str, Any] = {
            "event": event,
            "eventId": f"evt_{uuid.uuid4().hex}",
            "masterId": master_id,
            "occurredAt": rfc3339(state.clock),
            "medsPrescribed": meds,
            "visitOutcome": outcome,
        }
        with state.lock:
            state.events[payload["eventId"]] = payload
            state.visits[master_id]["status"] = outcome
        result = await deliver(state.webhook_url, state.webhook_secret, payload, state.clock)
        return JSONResponse(result)

    async def rx_written(request: Request) -> Response:
        master_id = request.path_params["master_id"]
        with state.lock:
            visit = state.visits.get(master_id)
        if visit is None:
            return error(404, "NOT_FOUND", "no such visit")
        try:
            options = await json_body(request)
        except ValueError:
            return error(400, "INVALID_JSON", "body is not a JSON object")
        names = {m["medId"]: m.get("name") or m["medId"] for m in visit["request"]["medsRequested"]}
        med_ids = options.get("medIds") or list(names)
        if not isinstance(med_ids, list):
            return error(422, "INVALID_REQUEST", "medIds must be a list")
        meds = [{"medId": str(m), "name": names.get(m, str(m))} for m in med_ids]
        return await send_event(master_id, RX_WRITTEN, meds, "rx_written")

    async def consult_event(request: Request) -> Response:
        master_id, event = request.path_params["master_id"], request.path_params["event"]
        if event not in _OUTCOMES:
            return error(400, "UNKNOWN_EVENT", f"event must be one of {sorted(_OUTCOMES)}")
        with state.lock:
            known = master_id in state.visits
        if not known:
            return error(404, "NOT_FOUND", "no such visit")
        return await send_event(master_id, event, [], _OUTCOMES[event])

    async def redeliver(request: Request) -> Response:
        with state.lock:
            payload = state.events.get(request.path_params["event_id"])
        if payload is None:
            return error(404, "NOT_FOUND", "no such event")
        return JSONResponse(await deliver(state.webhook_url, state.webhook_secret, payload, state.clock))

    async def fail_next(request: Request) -> Response:
        return await queue_failures(request, state.lock, state.failures)

    app = Starlette(
        routes=[
            Route("/visits", submit_visit, methods=["POST"]),
            Route("/_sandbox/visits", list_visits, methods=["GET"]),
            Route("/_sandbox/visits/{master_id}/rx-written", rx_written, methods=["POST"]),
            Route("/_sandbox/visits/{master_id}/events/{event}", consult_event, methods=["POST"]),
            Route("/_sandbox/events/{event_id}/redeliver", redeliver, methods=["POST"]),
            Route("/_sandbox/fail-next", fail_next, methods=["POST"]),
        ]
    )
    app.state.sandbox = state
    return app
