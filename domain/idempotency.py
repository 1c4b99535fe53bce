"""Idempotency keys as facts: a key is claimed once, with the request's fingerprint and result."""

from __future__ import annotations

from dataclasses import dataclass

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
        raise Conflict(
            "This Idempotency-Key was used with a different request body.",
            reasons=("IDEMPOTENCY_KEY_REUSED",),
        )
    return claim.resource_id
