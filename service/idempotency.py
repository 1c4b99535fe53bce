"""Idempotency keys: claimed in the same transaction as the effect they guard (`claim`), and the
first response of every keyed HTTP request kept for replays (`begin_request`/`finish_request`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.eventstore import ConcurrentWrite, stable_id
from domain.errors import Conflict
from domain.idempotency import (
    REQUEST_IN_PROGRESS,
    ClaimedKey,
    IdempotencyKeyClaimed,
    IdempotentRequest,
    IdempotentRequestAbandoned,
    IdempotentRequestFact,
    IdempotentResponseRecorded,
    StoredResponse,
    begin_keyed,
    keeps,
    replay_claim,
)
from service.deps import MAX_WRITE_RETRIES, Deps
from service.unit import Batch, Context, try_load


@dataclass(frozen=True)
class KeyedRequest:
    scope: str  # what and for whom, e.g. "refill/patient/<id>": keys never collide across callers
    key: str
    fingerprint: str

    @classmethod
    def of(cls, scope: str, key: str | None, body: dict[str, Any]) -> KeyedRequest | None:
        if not key:
            return None
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        return cls(scope, key, digest)

    @property
    def aggregate_id(self) -> UUID:
        return stable_id("idempotency", self.scope, self.key)


def claimed_resource(deps: Deps, request: KeyedRequest | None) -> str | None:
    """The resource an earlier request with this key produced (Conflict if the body differs)."""
    if request is None:
        return None
    loaded = try_load(deps.store, ClaimedKey, request.aggregate_id)
    if loaded is None:
        return None
    claim: ClaimedKey = loaded.state
    return replay_claim(claim, request.fingerprint)


def claim(batch: Batch, request: KeyedRequest | None, resource_type: str, resource_id: str) -> None:
    """Claim the key at version 1: a concurrent claim of the same key fails the whole batch."""
    if request is None:
        return
    batch.start(
        request.aggregate_id,
        IdempotencyKeyClaimed(
            scope=request.scope,
            fingerprint=request.fingerprint,
            resource_type=resource_type,
            resource_id=resource_id,
        ),
    )


# -- keyed HTTP requests (Stripe's semantics; see domain.idempotency) ----------------------------


@dataclass(frozen=True)
class RequestSlot:
    """This run's hold on a key: the stream and the version its start (or take-over) wrote."""

    aggregate_id: UUID
    version: int


def begin_request(
    deps: Deps, ctx: Context, scope: str, key: str, fingerprint: str
) -> StoredResponse | RequestSlot:
    """The response to replay, or a slot to run this request in. Raises Conflict: another request
    under the key (IDEMPOTENCY_KEY_REUSED), or the first one still running (REQUEST_IN_PROGRESS).
    Two requests racing for a new key both append version 1: one wins, the other decides again."""
    aggregate_id = stable_id("idempotent-request", scope, key)
    for attempt in range(MAX_WRITE_RETRIES):
        # A fresh key needs no read: its first fact starts the stream at version 1, so a key used
        # before fails that append and the next pass reads what it holds.
        loaded = try_load(deps.store, IdempotentRequest, aggregate_id) if attempt else None
        state: IdempotentRequest | None = loaded.state if loaded else None
        decided = begin_keyed(
            state, scope=scope, fingerprint=fingerprint, now=deps.clock(), stale_after=deps.pending_after
        )
        if isinstance(decided, StoredResponse):
            return decided
        version = loaded.version if loaded else 0
        batch = deps.batch(ctx)
        batch.add(aggregate_id, version, decided)
        try:
            deps.commit(batch)
        except ConcurrentWrite:
            continue
        return RequestSlot(aggregate_id, version + 1)
    raise Conflict(
        "A request with this Idempotency-Key is still in progress.", reasons=(REQUEST_IN_PROGRESS,)
    )


def finish_request(
    deps: Deps,
    ctx: Context,
    slot: RequestSlot,
    response: StoredResponse,
    reasons: tuple[str, ...] = (),
) -> None:
    """Keep the answer for replays, or let the key run again (a server error, a transient conflict)."""
    fact: IdempotentRequestFact = (
        IdempotentResponseRecorded(
            status=response.status, body=response.body, content_type=response.content_type
        )
        if keeps(response.status, reasons)
        else IdempotentRequestAbandoned(status=response.status)
    )
    batch = deps.batch(ctx)
    batch.add(slot.aggregate_id, slot.version, fact)
    with contextlib.suppress(ConcurrentWrite):
        deps.commit(batch)  # a retry took over meanwhile (we ran past the stale limit): its answer stands
