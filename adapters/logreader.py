"""Reading the global log raw, page by page, between two positions: for sealing, verifying and exporting.

These readers never decode through the domain models: the chain and the exports are about the
bytes as stored, and skipping pydantic keeps a million-event walk inside a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification

from adapters.chain import canonical_event, canonical_event_fast, link
from adapters.eventstore import LedgerStore
from domain.events import Recorded, UnknownEventType, fact_class


@dataclass(frozen=True)
class RawEvent:
    position: int
    aggregate_id: str
    version: int
    type: str
    body: dict[str, Any]
    state: bytes

    @classmethod
    def of(cls, n: Notification) -> RawEvent:
        return cls(n.id, str(n.originator_id), n.originator_version, n.topic, json.loads(n.state), n.state)

    def canonical(self) -> bytes:
        return canonical_event(self.position, self.aggregate_id, self.version, self.type, self.body)

    def links_to(self, prev_hash: str, chain_hash: str) -> bool:
        """Does this event, after `prev_hash`, hash to `chain_hash`? (Fast path first: see chain.py.)"""
        fast = canonical_event_fast(self.position, self.aggregate_id, self.version, self.type, self.state)
        return link(prev_hash, fast) == chain_hash or link(prev_hash, self.canonical()) == chain_hash

    @property
    def event_id(self) -> str:
        return str(self.body.get("event_id", ""))

    @property
    def organization_id(self) -> str:
        return str(self.body.get("organization_id", ""))

    @property
    def aggregate_type(self) -> str:
        return aggregate_type_of(self.type)


def aggregate_type_of(event_type: str) -> str:
    try:
        return fact_class(event_type).AGGREGATE
    except UnknownEventType:
        return "unknown"


def iter_raw(
    store: LedgerStore,
    *,
    after: int = 0,
    stop: int | None = None,
    page: int = 5000,
    topics: Sequence[str] = (),
) -> Iterator[Notification]:
    """Every notification with after < position <= stop, in position order, a page at a time."""
    while True:
        batch = store.recorder.select_notifications(
            start=after, limit=page, stop=stop, topics=list(topics), inclusive_of_start=False
        )
        yield from batch
        if len(batch) < page:
            return
        after = batch[-1].id


def feed_record(position: int, e: Recorded) -> dict[str, Any]:
    """An event as subscribers see it (GET /events, SSE, NATS): API.md's shape, upcast."""
    m = e.meta
    return {
        "position": position,
        "id": str(m.event_id),
        "type": e.type,
        "version": e.originator_version,
        "aggregate_type": e.aggregate_type,
        "aggregate_id": str(e.originator_id),
        "organization_id": m.organization_id,
        "occurred_at": m.occurred_at.isoformat(),
        "actor": {"kind": m.actor.kind, "id": m.actor.id},
        "correlation_id": m.correlation_id,
        "causation_id": m.causation_id,
        "data": e.fact.model_dump(mode="json"),
    }
