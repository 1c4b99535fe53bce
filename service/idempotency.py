"""Idempotency keys, claimed in the same transaction as the effect they guard."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.eventstore import stable_id
from domain.idempotency import ClaimedKey, IdempotencyKeyClaimed, replay_claim
from service.deps import Deps
from service.unit import Batch, try_load


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
    loaded = try_load(deps.store, "idempotency_key", request.aggregate_id)
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
