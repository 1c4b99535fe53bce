"""Inbound webhooks, stored raw before they are processed.

Each delivery is its own tiny aggregate whose id is derived from (vendor, vendor event id): the
first delivery starts it, a repeat collides with it and changes nothing. The raw body and the
signature header are kept, so an audit can show exactly what a vendor told us and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.events import Fact


class WebhookReceived(Fact):
    TYPE = "WebhookReceived"
    AGGREGATE = "webhook"
    vendor: str  # "stripe", "beluga", "pharmacy:<partner>"
    vendor_event_id: str
    event_type: str
    body: str  # the raw body as received (verified before it was stored)
    signature: str | None
    received_at: datetime


@dataclass(frozen=True)
class Webhook:
    id: str
    received: WebhookReceived


def evolve_webhook(state: Webhook | None, fact: Fact, aggregate_id: str) -> Webhook:
    if isinstance(fact, WebhookReceived):
        return Webhook(aggregate_id, fact)
    assert state is not None
    return state
