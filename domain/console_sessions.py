"""Operator console sessions: a one-time sign-in link starts one, sign-out or expiry ends it.

A session is an aggregate keyed by its sign-in link's id, so a link can start at most one session:
the second exchange of the same link finds the stream already begun and is refused. Both facts are
part of the audit trail (who signed in to the console, as which role, until when).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from domain.errors import Conflict, InvalidCommand
from domain.events import Fact

CONSOLE_ROLES = ("cs", "ops", "staff", "compliance", "clinic", "patient")


class ConsoleSessionStarted(Fact):
    TYPE = "ConsoleSessionStarted"
    AGGREGATE = "console_session"
    role: str
    subject: str | None
    started_at: datetime
    expires_at: datetime


class ConsoleActionTaken(Fact):
    """An operator took an action from the console: what, on which order, and the reason they gave.

    The action's own facts (a refund, a retry) carry the actor; this one adds the why, for every
    action alike, whether or not the action's own facts have a field for it.
    """

    TYPE = "ConsoleActionTaken"
    AGGREGATE = "console_session"
    action: str
    order_id: str
    reason: str
    taken_at: datetime


class ConsoleSessionEnded(Fact):
    TYPE = "ConsoleSessionEnded"
    AGGREGATE = "console_session"
    reason: str  # "signed_out"
    ended_at: datetime


@dataclass(frozen=True)
class ConsoleSession:
    id: str
    role: str
    subject: str | None
    expires_at: datetime
    ended_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


def start_session(
    role: str, subject: str | None, *, now: datetime, expires_at: datetime
) -> ConsoleSessionStarted:
    return ConsoleSessionStarted(role=role, subject=subject, started_at=now, expires_at=expires_at)


def end_session(state: ConsoleSession, *, now: datetime) -> list[Fact]:
    if state.ended_at is not None:
        raise Conflict(rule="SESSION_ALREADY_ENDED", reasons=("SESSION_ENDED",))
    return [ConsoleSessionEnded(reason="signed_out", ended_at=now)]


def take_action(
    state: ConsoleSession, *, action: str, order_id: str, reason: str, now: datetime
) -> list[Fact]:
    if not reason.strip():
        raise InvalidCommand(field="reason", reasons=("REASON_REQUIRED",))
    if not state.active(now):
        raise Conflict(reasons=("SESSION_ENDED",))
    return [ConsoleActionTaken(action=action, order_id=order_id, reason=reason.strip()[:500], taken_at=now)]


def evolve_session(state: ConsoleSession | None, fact: Fact, aggregate_id: str) -> ConsoleSession:
    if isinstance(fact, ConsoleSessionStarted):
        return ConsoleSession(aggregate_id, fact.role, fact.subject, fact.expires_at)
    assert state is not None
    if isinstance(fact, ConsoleSessionEnded):
        return replace(state, ended_at=fact.ended_at)
    return state


def _register() -> None:
    from domain.aggregates import register_aggregate

    register_aggregate("console_session", evolve_session)


_register()
