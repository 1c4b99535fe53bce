"""The Starlette application: routes, request context, problem+json translation, OpenAPI."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.aggregates import cache_of
from api import (
    clinic,
    routes_catalog,
    routes_compliance,
    routes_escalations,
    routes_events,
    routes_medical,
    routes_orders,
    routes_search,
    routes_subscriptions,
    routes_support,
    webhooks,
)
from api.console import console_routes
from api.limits import BodyLimit
from api.openapi import build_openapi
from api.problems import KNOWN_ERRORS, from_exception, problem, too_large
from api.runtime import Runtime

log = structlog.get_logger("api")


class RequestContext:
    """Bind a request id (and the caller's correlation id) to every log line of the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope.get("headers", [])}
        request_id = str(uuid.uuid4())
        correlation_id = headers.get("x-correlation-id", "")[:128] or request_id
        scope.setdefault("state", {}).update(request_id=request_id, correlation_id=correlation_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation_id)
        started, status = time.perf_counter(), 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            # One summary line per request: method, route template, status, time. No bodies.
            log.info(
                "request",
                method=scope["method"],
                path=_route_template(scope),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


async def _handle(request: Request, exc: Exception) -> Response:
    translated = from_exception(exc)
    if translated is not None:
        return translated
    log.exception("unhandled", error_type=type(exc).__name__)
    return problem(500, "Internal Server Error", "Something went wrong; it was logged with the request id.")


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem(404, "Not Found", "No such resource.")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return problem(405, "Method Not Allowed", "This method is not allowed on this resource.")


def create_app(
    runtime: Runtime,
    *,
    extra_routes: list[BaseRoute] | None = None,
    on_startup: list[Callable[[], None]] | None = None,
) -> Starlette:
    spec_cache: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        if not spec_cache:
            spec_cache.update(
                build_openapi(
                    title="Refill Ledger",
                    version="0.1.0",
                    extra_paths={**routes_compliance.DOWNLOAD_OPENAPI, **runtime.openapi_paths},
                )
            )
        return JSONResponse(spec_cache)

    async def health(request: Request) -> Response:
        store = runtime.deps.store
        # aggregate_cache: this process's hits, misses and catch-ups (adapters.aggregates)
        return JSONResponse(
            {"status": "ok", "position": store.last_position(), "aggregate_cache": cache_of(store).stats()}
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for hook in on_startup or []:
            hook()
        yield
        for stop in reversed(runtime.on_shutdown):
            stop()

    routes: list[BaseRoute] = [
        Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
        Route("/healthz", health, methods=["GET"], include_in_schema=False),
        *routes_catalog.routes,
        *routes_orders.routes,
        *routes_subscriptions.routes,
        *clinic.routes,
        *routes_events.routes,
        *routes_compliance.routes,
        *routes_medical.routes,
        *webhooks.routes,
        *routes_search.routes,
        *routes_escalations.routes,
        *routes_support.routes,
        *console_routes(),
        *(extra_routes or []),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestContext), Middleware(BodyLimit, too_large=too_large)],
        lifespan=lifespan,
        exception_handlers={
            **{kind: _handle for kind in KNOWN_ERRORS},
            Exception: _handle,
            404: _not_found,
            405: _method_not_allowed,
        },
    )
    app.state.runtime = runtime
    return app
