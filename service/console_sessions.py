"""Start, check and end operator console sessions (one per one-time sign-in link)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from adapters.eventstore import ConcurrentWrite, stable_id
from domain.console_sessions import ConsoleSession, end_session, start_session, take_action
from domain.errors import Conflict
from service.deps import Deps, retry_on_conflict
from service.unit import Context, load_owned, try_load


def session_id_for(link_id: str) -> UUID:
    return stable_id("console_session", link_id)


def begin(
    deps: Deps, ctx: Context, link_id: str, *, role: str, subject: str | None, expires_at: datetime
) -> ConsoleSession:
    """Exchange a sign-in link for a session; the same link a second time is refused (`LINK_USED`)."""
    session_id = session_id_for(link_id)
    batch = deps.batch(ctx)
    batch.start(session_id, start_session(role, subject, now=batch.now, expires_at=expires_at))
    try:
        deps.commit(batch)
    except ConcurrentWrite:
        raise Conflict("This sign-in link has already been used.", reasons=("LINK_USED",)) from None
    return ConsoleSession(str(session_id), role, subject, expires_at)


def current(deps: Deps, organization_id: str, session_id: str) -> ConsoleSession | None:
    """The session if it exists in this organization, has not ended and has not expired."""
    loaded = try_load(deps.store, ConsoleSession, session_id)
    if loaded is None or loaded.organization_id != organization_id:
        return None
    state = loaded.state
    return state if state.active(deps.clock()) else None


def record_action(
    deps: Deps, ctx: Context, session_id: str, *, action: str, order_id: str, reason: str
) -> None:
    """Record who took which console action on which order and why, before the action runs."""

    def attempt() -> None:
        loaded = load_owned(deps.store, ctx, ConsoleSession, session_id)
        batch = deps.batch(ctx)
        batch.extend(
            loaded, *take_action(loaded.state, action=action, order_id=order_id, reason=reason, now=batch.now)
        )
        deps.commit(batch)

    retry_on_conflict(attempt)


def finish(deps: Deps, ctx: Context, session_id: str) -> None:
    loaded = load_owned(deps.store, ctx, ConsoleSession, session_id)
    batch = deps.batch(ctx)
    batch.extend(loaded, *end_session(loaded.state, now=batch.now))
    deps.commit(batch)
