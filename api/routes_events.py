"""The global event feed: `GET /events` (pages) and `GET /events/stream` (server-sent events).

Both read the caller's organization's events in position order. A subscriber stores the last
position it handled (`next_after`, or the SSE `id`) and resumes from it (`after=`, or the
`Last-Event-ID` header a reconnecting EventSource sends), so it never misses or reorders one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.logreader import feed_record
from api.auth import authenticate, require
from api.endpoint import Call, Reply, endpoint
from api.problems import ApiError, Problem
from api.runtime import Runtime
from domain.events import Recorded, UnknownEventType
from service.feed import feed_page, parse_types

ROLES = ("service", "ops")
STREAM_PAGE = 500
ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 422: Problem}


class EventsQuery(BaseModel):
    after: Annotated[int, Field(ge=0, le=2**62, description="Return events after this position")] = 0
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    types: Annotated[str | None, Field(max_length=2000, description="Comma-separated event types")] = None


class ActorOut(BaseModel):
    kind: str
    id: str


class EventOut(BaseModel):
    position: int
    id: str
    type: str
    version: int
    aggregate_type: str
    aggregate_id: str
    organization_id: str
    occurred_at: datetime
    actor: ActorOut
    correlation_id: str
    causation_id: str
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventOut]
    next_after: int


def event_out(position: int, e: Recorded) -> EventOut:
    return EventOut.model_validate(feed_record(position, e))


def _types(raw: str | None) -> tuple[str, ...]:
    try:
        return parse_types(raw)
    except UnknownEventType as exc:
        raise ApiError(
            422, "Invalid request", f"Unknown event types: {exc.args[0]}.", reasons=("UNKNOWN_EVENT_TYPE",)
        ) from None


@endpoint(
    "GET",
    "/events",
    summary="The global, ordered event feed (resume with next_after)",
    roles=ROLES,
    tag="streams",
    query=EventsQuery,
    responses={200: EventPage, **ERRORS},
)
def list_events(call: Call) -> Reply:
    q: EventsQuery = call.query
    page = feed_page(
        call.runtime.deps.store, call.principal.organization_id, q.after, q.limit, _types(q.types)
    )
    return Reply(200, EventPage(events=[event_out(p, e) for p, e in page.events], next_after=page.next_after))


def _resume_from(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    try:
        after = int(raw)
    except ValueError:
        raise ApiError(
            422,
            "Invalid request",
            "Last-Event-ID / after must be a position (an integer).",
            reasons=("VALIDATION_FAILED",),
        ) from None
    if not 0 <= after <= 2**62:
        raise ApiError(
            422, "Invalid request", "Last-Event-ID / after is out of range.", reasons=("VALIDATION_FAILED",)
        )
    return after


def accepts_event_stream(accept: str) -> bool:
    """Does the Accept header admit text/event-stream (no header, `*/*` and `text/*` do)?"""
    if not accept.strip():
        return True
    for item in accept.split(","):
        media, _, params = item.strip().partition(";")
        refused = "q=0" in params.replace(" ", "") and "q=0." not in params.replace(" ", "")
        if media.strip().lower() in ("text/event-stream", "text/*", "*/*") and not refused:
            return True
    return False


async def stream_events(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    principal = authenticate(runtime.token_secret, request.headers.get("authorization"), runtime.token_policy)
    require(principal, ROLES)
    if not accepts_event_stream(request.headers.get("accept", "")):
        # A client that asked only for something else (JSON) is told so rather than left hanging;
        # curl and httpx send `*/*`, which an event stream satisfies.
        raise ApiError(
            406,
            "Not Acceptable",
            "This is a text/event-stream; send that Accept header.",
            reasons=("ACCEPT_EVENT_STREAM",),
        )
    after, types = _resume_from(request), _types(request.query_params.get("types"))
    wakeup, poll = runtime.event_wakeup, runtime.stream_poll_seconds
    store, org = runtime.deps.store, principal.organization_id

    async def events() -> AsyncIterator[ServerSentEvent]:
        position = after
        while True:
            page = await run_in_threadpool(feed_page, store, org, position, STREAM_PAGE, types)
            for p, e in page.events:
                yield ServerSentEvent(
                    data=json.dumps(event_out(p, e).model_dump(mode="json")), event=e.type, id=str(p)
                )
            position = page.next_after
            if page.scanned < STREAM_PAGE:
                await wakeup.wait(poll)

    return EventSourceResponse(
        events(),
        ping=runtime.stream_ping_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


STREAM_OPENAPI: dict[str, Any] = {
    "/events/stream": {
        "get": {
            "summary": "The same feed as server-sent events, live; resumable with Last-Event-ID",
            "tags": ["streams"],
            "operationId": "getEventsStream",
            "description": "Roles: service, ops. Each event is `id: <position>`, `event: <type>`, "
            "`data: <event as in "
            "GET /events>`; comments keep the connection alive. Reconnect with `Last-Event-ID` "
            "(or `after`) to resume after the last position handled.",
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                },
                {
                    "name": "types",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 2000},
                },
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                },
            ],
            "responses": {
                "200": {
                    "description": "An endless text/event-stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
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
                        (406, "The Accept header excludes text/event-stream (*/* is served)"),
                        (422, "Invalid position or event types"),
                    )
                },
            },
        }
    }
}

routes = [list_events, Route("/events/stream", stream_events, methods=["GET"])]
