"""Routes declared once, with their roles and pydantic models, so the OpenAPI document is true.

`endpoint(...)` wraps a plain synchronous handler: it authenticates and checks the role,
parses the body and query with pydantic (422 naming each field), runs the handler in the
thread pool (the event store is synchronous) and serialises the reply through its declared
model, so a response can never drift from the schema the document publishes. A route declaring
an `Idempotency-Key` header gets Stripe's key semantics (`api.idempotent`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.json_depth import MAX_JSON_DEPTH, nesting_exceeds
from api import idempotent
from api.auth import Principal, authenticate, require
from api.problems import ApiError, validation_problem
from api.runtime import Runtime
from domain.errors import NotFound
from service.unit import Context


@dataclass
class Call:
    """Everything a handler needs about one request."""

    request: Request
    runtime: Runtime
    principal: Principal
    body: Any
    query: Any

    def ctx(self) -> Context:
        """The service-layer context: who acts, in which organization and causal chain."""
        request_id = getattr(self.request.state, "request_id", "") or "unknown"
        correlation = getattr(self.request.state, "correlation_id", "") or request_id
        return Context(self.principal.actor, self.principal.organization_id, correlation, request_id)

    def only_own(self, patient_id: str, what: str) -> None:
        """A patient sees only their own records; others are 'not found', never 'forbidden'."""
        if self.principal.role == "patient" and self.principal.subject != patient_id:
            raise NotFound(f"No such {what}.")

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)


@dataclass(frozen=True)
class Reply:
    status: int
    body: BaseModel
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointSpec:
    method: str
    path: str
    summary: str
    roles: tuple[str, ...]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    responses: dict[int, type[BaseModel]]
    tag: str
    headers: tuple[str, ...]


REGISTRY: list[EndpointSpec] = []
Handler = Callable[[Call], Reply]


def endpoint(
    method: str,
    path: str,
    *,
    summary: str,
    roles: tuple[str, ...],
    tag: str,
    responses: dict[int, type[BaseModel]],
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    headers: tuple[str, ...] = (),
) -> Callable[[Handler], Route]:
    spec = EndpointSpec(method, path, summary, roles, body, query, responses, tag, headers)
    REGISTRY.append(spec)

    def wrap(handler: Handler) -> Route:
        async def asgi(request: Request) -> Response:
            runtime: Runtime = request.app.state.runtime
            # Ids only (order_id, invoice_id, …): every log line of this request carries them.
            structlog.contextvars.bind_contextvars(**{k: str(v)[:64] for k, v in request.path_params.items()})
            principal = authenticate(
                runtime.token_secret, request.headers.get("authorization"), runtime.token_policy
            )
            require(principal, roles)
            parsed_body = await _parse_body(request, body) if body is not None else None
            if isinstance(parsed_body, Response):
                return parsed_body
            parsed_query = None
            if query is not None:
                try:
                    parsed_query = query.model_validate(dict(request.query_params))
                except ValidationError as exc:
                    return validation_problem(exc, "query")
            call = Call(request, runtime, principal, parsed_body, parsed_query)

            def run() -> Response:
                reply = _in_one_connection(handler, call)
                return idempotent.json_reply(reply.status, reply.body, reply.headers)

            key = request.headers.get(idempotent.HEADER) if idempotent.HEADER in headers else None
            if key is None:
                return await run_in_threadpool(run)
            if (refused := idempotent.bad_key(key)) is not None:
                return refused
            scope = f"{principal.organization_id}/{principal.role}:{principal.subject or ''}"
            digest = idempotent.fingerprint(method, request.url.path, parsed_body)
            return await idempotent.run_keyed(call, key, scope, digest, run)

        return Route(path, asgi, methods=[method], name=handler.__name__)

    return wrap


def _in_one_connection(handler: Handler, call: Call) -> Reply:
    """A request is one unit of work: it holds one store connection, not one per read and append."""
    with call.runtime.deps.store.one_connection():
        return handler(call)


async def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel | Response:
    raw = await request.body() or b"{}"
    if nesting_exceeds(raw):
        raise ApiError(
            400,
            "JSON too deep",
            f"The request body nests deeper than {MAX_JSON_DEPTH} levels.",
            reasons=("JSON_TOO_DEEP",),
        )
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ApiError(
            400, "Malformed JSON", "The request body is not valid JSON.", reasons=("MALFORMED_JSON",)
        ) from None
    if not isinstance(data, dict):
        raise ApiError(
            400, "Malformed JSON", "The request body must be a JSON object.", reasons=("MALFORMED_JSON",)
        )
    try:
        # Strict: JSON types as sent, no coercion (`true` or "1" is not a quantity); JSON mode still
        # reads RFC 3339 strings as times.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        return validation_problem(exc)


def public_route(path: str, method: str, fn: Callable[[Request], Any]) -> Route:
    return Route(path, fn, methods=[method])
