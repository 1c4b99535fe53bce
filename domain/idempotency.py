"""Idempotency keys as facts: a key is claimed once, with the request's fingerprint and result."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.errors import Conflict
from domain.events import Fact


class IdempotencyKeyClaimed(Fact):
    TYPE = "IdempotencyKeyClaimed"
    AGGREGATE = "idempotency_key"
    BOOKKEEPING = True
    scope: str
    fingerprint: str
    resource_type: str
    resource_id: str


@dataclass(frozen=True)
class ClaimedKey:
    fingerprint: str
    resource_type: str
    resource_id: str


def evolve_claim(state: ClaimedKey | None, fact: Fact, aggregate_id: str) -> ClaimedKey:
    assert isinstance(fact, IdempotencyKeyClaimed)
    return ClaimedKey(fact.fingerprint, fact.resource_type, fact.resource_id)


def replay_claim(claim: ClaimedKey, fingerprint: str) -> str:
    """The resource a reused key refers to; a different body under the same key is a conflict."""
    if claim.fingerprint != fingerprint:
        raise Conflict(rule="IDEMPOTENCY_KEY_REUSED_BODY", reasons=("IDEMPOTENCY_KEY_REUSED",))
    return claim.resource_id


# -- Stripe's semantics for every keyed HTTP route ---------------------------------------------
# One stream per (caller, route, key): the first request's fingerprint and, once it finished, the
# response it got. The same key and body replay that response; another body is a conflict; a
# request still running is "in progress" until it is older than the stale limit (its process
# died): then a retry takes it over and runs it again, which every keyed use case makes safe.


class IdempotentRequestFact(Fact):
    AGGREGATE = "idempotent_request"
    BOOKKEEPING = True


class IdempotentRequestStarted(IdempotentRequestFact):
    TYPE = "IdempotentRequestStarted"
    scope: str
    fingerprint: str
    started_at: datetime


class IdempotentRequestResumed(IdempotentRequestFact):
    """A retry took over a request whose first run never answered (crashed, or ended in a 5xx)."""

    TYPE = "IdempotentRequestResumed"
    started_at: datetime


class IdempotentRequestAbandoned(IdempotentRequestFact):
    """The run ended without an answer worth keeping (a server error, a write conflict)."""

    TYPE = "IdempotentRequestAbandoned"
    status: int


class IdempotentResponseRecorded(IdempotentRequestFact):
    TYPE = "IdempotentResponseRecorded"
    status: int
    body: str  # the JSON body as sent
    content_type: str


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    content_type: str


@dataclass(frozen=True)
class IdempotentRequest:
    fingerprint: str
    started_at: datetime
    running: bool = True
    response: StoredResponse | None = None


def evolve_idempotent_request(
    state: IdempotentRequest | None, fact: Fact, aggregate_id: str
) -> IdempotentRequest:
    match fact:
        case IdempotentRequestStarted():
            return IdempotentRequest(fact.fingerprint, fact.started_at)
        case IdempotentRequestResumed():
            assert state is not None
            return replace(state, started_at=fact.started_at, running=True)
        case IdempotentRequestAbandoned():
            assert state is not None
            return replace(state, running=False)
        case IdempotentResponseRecorded():
            assert state is not None
            return replace(
                state, running=False, response=StoredResponse(fact.status, fact.body, fact.content_type)
            )
    assert state is not None
    return state


IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
REQUEST_IN_PROGRESS = "REQUEST_IN_PROGRESS"


def begin_keyed(
    state: IdempotentRequest | None,
    *,
    scope: str,
    fingerprint: str,
    now: datetime,
    stale_after: timedelta,
) -> StoredResponse | IdempotentRequestFact:
    """The stored response to replay, or the fact that lets this request run (start or take over).
    Raises Conflict for another body under the key, or while the first request is still running."""
    if state is None:
        return IdempotentRequestStarted(scope=scope, fingerprint=fingerprint, started_at=now)
    if state.fingerprint != fingerprint:
        raise Conflict(reasons=(IDEMPOTENCY_KEY_REUSED,))
    if state.response is not None:
        return state.response
    if state.running and now - state.started_at < stale_after:
        raise Conflict(reasons=(REQUEST_IN_PROGRESS,))
    return IdempotentRequestResumed(started_at=now)


# Answers that say "not now" rather than "no": a retry must run again, not replay them.
_TRANSIENT = frozenset({"CONCURRENT_UPDATE", "PAYMENT_IN_PROGRESS", REQUEST_IN_PROGRESS})


def keeps(status: int, reasons: tuple[str, ...] = ()) -> bool:
    """Whether a response is the request's answer for good. Like Stripe: every executed result,
    errors included, except server errors and conflicts with a concurrent request."""
    return status < 500 and not _TRANSIENT.intersection(reasons)
