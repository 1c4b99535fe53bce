"""Sign-in by one-time link, sign-out, the console's home page and `/`."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.auth import Principal
from api.console import session as tokens
from api.console.pages import OPERATORS, Page, View, html, page, safe_next, signed_in
from api.console.render import NAV, render_page
from api.runtime import Runtime
from domain.errors import Conflict
from service import console_sessions
from service.unit import Context

ALL_CONSOLE_ROLES = (*OPERATORS, "clinic", "patient")
_HOME = {"clinic": "/console/clinic"}
_TILES = {
    "Find": "Find an order from what the patient says: order number, e-mail or name.",
    "Escalations": "Open escalations, oldest first, with the report to copy.",
    "Stuck orders": "Orders that are not moving, why, and the fix.",
    "Projections": "Read models: position, lag, last error; rebuild with live progress.",
    "Exports": "Signed compliance exports: create, follow, download.",
}


async def root(request: Request) -> Response:
    return RedirectResponse("/console/sign-in", status_code=307)


async def sign_in_form(request: Request) -> Response:
    """Explain how to get a link; with `?link=`, show who it signs in as and hand it on by POST.

    The exchange is a POST (submitted by the page's script, or by the button without script), so a
    link preview or a prefetch that merely GETs the address cannot use up the one-time link.
    """
    runtime: Runtime = request.app.state.runtime
    link = request.query_params.get("link", "")
    context: dict[str, object] = {"link": "", "problem": None, "role": None, "subject": None}
    status = 200
    if link:
        try:
            claims = tokens.read_link_token(runtime.token_secret, link, runtime.deps.clock())
            context.update(link=link, role=claims.role, subject=claims.subject)
        except tokens.BadLink as exc:
            context["problem"] = f"{exc} Ask for a new one."
            status = 400
    elif request.query_params.get("signed_out"):
        context["problem"] = "You have signed out."
    session = await run_in_threadpool(signed_in, request, runtime)
    return html(_signin_page(request, session.role if session else None, context), status)


def _signin_page(request: Request, role: str | None, context: dict[str, object]) -> str:
    return render_page(
        "signin.html",
        None,
        {
            **context,
            "who_role": role,
            "next": safe_next(request.query_params.get("next")),
            "link_minutes": tokens.LINK_MINUTES,
            "session_hours": int(tokens.SESSION_LIFETIME.total_seconds() // 3600),
        },
    )


async def sign_in(request: Request) -> Response:
    """Exchange the link for a session cookie (once), then go to the console."""
    runtime: Runtime = request.app.state.runtime
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        return html(
            _signin_page(
                request,
                None,
                {
                    "link": "",
                    "problem": "Sign-in refused: it came from another site.",
                    "role": None,
                    "subject": None,
                },
            ),
            403,
        )
    form = await request.form()
    link, next_path = str(form.get("link") or ""), safe_next(str(form.get("next") or ""))
    now = runtime.deps.clock()
    try:
        claims = tokens.read_link_token(runtime.token_secret, link, now)
    except tokens.BadLink as exc:
        return html(
            _signin_page(
                request,
                None,
                {"link": "", "problem": f"{exc} Ask for a new one.", "role": None, "subject": None},
            ),
            400,
        )
    principal = Principal(claims.role, claims.subject, claims.organization_id)
    request_id = getattr(request.state, "request_id", "") or "console-sign-in"
    ctx = Context(principal.actor, claims.organization_id, request_id, request_id)
    expires_at = now + tokens.SESSION_LIFETIME
    try:
        started = await run_in_threadpool(
            console_sessions.begin,
            runtime.deps,
            ctx,
            claims.link_id,
            role=claims.role,
            subject=claims.subject,
            expires_at=expires_at,
        )
    except Conflict:
        return html(
            _signin_page(
                request,
                None,
                {
                    "link": "",
                    "role": None,
                    "subject": None,
                    "problem": "This sign-in link has already been used. Ask for a new one.",
                },
            ),
            409,
        )
    response = RedirectResponse(next_path or _HOME.get(claims.role, "/console"), status_code=303)
    response.set_cookie(
        tokens.COOKIE,
        tokens.session_cookie(runtime.token_secret, started.id, claims.organization_id, expires_at),
        max_age=int(tokens.SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@page("/console/sign-out", roles=ALL_CONSOLE_ROLES, methods=("POST",))
def sign_out(call: Page) -> Response:
    assert call.session is not None
    console_sessions.finish(call.runtime.deps, call.ctx(), call.session.id)
    response = RedirectResponse("/console/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(tokens.COOKIE, path="/", httponly=True, samesite="strict")
    return response


@page("/console", roles=OPERATORS)
def home(call: Page) -> View:
    role = call.principal.role
    tiles = [(label, path, _TILES[label]) for label, path, roles in NAV if role in roles]
    return View("home.html", {"tiles": tiles})
