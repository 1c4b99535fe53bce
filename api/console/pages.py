"""How a console page is declared: its path, the roles that may open it, and a plain handler.

`page(...)` wraps a synchronous handler as `endpoint(...)` does for the JSON API: it finds the
session from the cookie (no session: a GET goes to the sign-in page, anything else is 401), checks
the role exactly as the API does (403 otherwise), checks the CSRF token on every unsafe method, runs
the handler in the thread pool (the store is synchronous) and renders its template. Domain errors
become an error page with the API's status and its words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from api.auth import Principal
from api.console import session as tokens
from api.console.render import render_page
from api.endpoint import Call
from api.error_words import detail_of
from api.runtime import Runtime
from domain.console_sessions import ConsoleSession
from domain.errors import Conflict, DomainError, InvalidCommand, NotEligible, NotFound
from replay.escalation_queue import escalation_queue
from service import console_sessions

log = structlog.get_logger("console")

# Who may open what: the API's own role lists for the same data (API.md), nothing wider.
OPERATORS = ("cs", "ops", "staff", "compliance")
ORDER_ROLES = ("cs", "ops", "staff")
QUEUE_ROLES = ("cs", "ops")
STUCK_ROLES = ("ops", "cs")
PROJECTION_ROLES = ("ops",)
EXPORT_ROLES = ("compliance",)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # a sign-in link's token never leaves in a Referer
    "Cache-Control": "no-store",  # pages hold personal health information
}


@dataclass
class Page(Call):
    """A console request: the API's `Call` plus the session, the posted form and its CSRF token."""

    session: ConsoleSession | None = None
    form: Mapping[str, str] = field(default_factory=dict)
    csrf: str = ""

    def field(self, name: str) -> str:
        return self.form.get(name, "").strip()


@dataclass(frozen=True)
class View:
    """A template to render with its context (the layout's own values are added)."""

    template: str
    context: dict[str, Any]
    status: int = 200


PageHandler = Callable[[Page], View | Response]


def html(body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def signed_in(request: Request, runtime: Runtime) -> ConsoleSession | None:
    """The live session named by the cookie, or None (no cookie, forged, signed out or expired)."""
    raw = request.cookies.get(tokens.COOKIE)
    if not raw:
        return None
    found = tokens.read_session_cookie(runtime.token_secret, raw)
    if found is None:
        return None
    session_id, organization_id = found
    return console_sessions.current(runtime.deps, organization_id, session_id)


def organization_of(request: Request, runtime: Runtime) -> str | None:
    raw = request.cookies.get(tokens.COOKIE)
    found = tokens.read_session_cookie(runtime.token_secret, raw) if raw else None
    return found[1] if found else None


def page(
    path: str, *, roles: tuple[str, ...], methods: tuple[str, ...] = ("GET",)
) -> Callable[[PageHandler], Route]:
    def wrap(handler: PageHandler) -> Route:
        async def asgi(request: Request) -> Response:
            runtime: Runtime = request.app.state.runtime
            structlog.contextvars.bind_contextvars(**{k: str(v)[:64] for k, v in request.path_params.items()})
            session = await run_in_threadpool(signed_in, request, runtime)
            if session is None:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(
                        f"/console/sign-in?next={quote(target, safe='')}", status_code=303
                    )
                return _error(
                    request, None, 401, "Signed out", "Your session has ended. Sign in again with a new link."
                )
            org = organization_of(request, runtime) or ""
            principal = Principal(role=session.role, subject=session.subject, organization_id=org)
            csrf = tokens.csrf_token(runtime.token_secret, session.id)
            base = Page(request, runtime, principal, None, None, session=session, csrf=csrf)
            if principal.role not in roles:
                return _error(
                    request,
                    base,
                    403,
                    "Not for this role",
                    f"The {principal.role} role may not open this page.",
                )
            form: dict[str, str] = {}
            if request.method not in ("GET", "HEAD"):
                parsed = await request.form()
                form = {k: v for k, v in parsed.items() if isinstance(v, str)}
                presented = form.get(tokens.CSRF_FIELD) or request.headers.get(tokens.CSRF_HEADER)
                if not tokens.csrf_ok(runtime.token_secret, session.id, presented):
                    log.warning("console_csrf_refused", path=_template_of(request))
                    return _error(
                        request,
                        base,
                        403,
                        "Form refused",
                        "The form's security token was missing or wrong. Reload the page and try again.",
                    )
            call = Page(request, runtime, principal, None, None, session=session, form=form, csrf=csrf)
            return await run_in_threadpool(_run, handler, call)

        return Route(path, asgi, methods=list(methods), name=f"console_{handler.__name__}")

    return wrap


def _run(handler: PageHandler, call: Page) -> Response:
    try:
        result = handler(call)
    except DomainError as exc:
        status = _status_of(exc)
        return _error(
            call.request, call, status, _TITLES.get(status, "Refused"), detail_of(exc), reasons=exc.reasons
        )
    if isinstance(result, Response):
        return result
    context = dict(result.context)
    if call.principal.role in QUEUE_ROLES:
        context.setdefault("open_escalations", open_escalation_count(call))
    return html(render_page(result.template, call, context), result.status)


def open_escalation_count(call: Page) -> int:
    """The top bar's count: open escalations in this organization (the queue's own total)."""
    rt = call.runtime
    found = escalation_queue(
        rt.deps.store, rt.views, rt.projections, call.principal.organization_id, datetime.now(UTC), limit=1
    )
    return found.total


_TITLES = {404: "Not found", 409: "Not now", 422: "Refused"}


def _status_of(exc: DomainError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, NotEligible | InvalidCommand):
        return 422
    return 400


def _error(
    request: Request, call: Page | None, status: int, title: str, detail: str, reasons: tuple[str, ...] = ()
) -> HTMLResponse:
    body = render_page(
        "error.html", call, {"title": title, "detail": detail, "reasons": reasons, "status": status}
    )
    return html(body, status)


def _template_of(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def safe_next(value: str | None) -> str:
    """Only a path inside the console: never another host (an open redirect)."""
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/console") or value.startswith("//"):
        return ""
    return value
