"""Vendor news in the vendors' own time order: what to record for a webhook that may arrive late.

Beluga and the pharmacies say when each thing happened (`occurredAt`), and deliveries arrive in any
order, any number of times. Forward news (accepted, processing, shipped, delivered, RX_WRITTEN) only
adds to an order, so it is applied whatever its age. News that would move the order back — a
rejection, a consult cancelation or rejection — is applied only when it is not older than the latest
word of the same kind; otherwise it is recorded as `VendorFactStale`, for CS to read, and changes
nothing. So any order and any repetition of deliveries ends where in-order delivery ends, and the
status never moves backwards.
"""

from __future__ import annotations

from datetime import datetime

from domain.events import Fact
from domain.orders import Order, VendorFactStale, stale_against


def vendor_fact_to_record(
    order: Order, fact: Fact, *, vendor: str, event_type: str, occurred_at: datetime
) -> Fact:
    """`fact` itself when it is news; a `VendorFactStale` naming the later news when it is not."""
    latest = stale_against(order, fact)
    if latest is None:
        return fact
    return VendorFactStale(
        vendor=vendor,
        event_type=event_type,
        vendor_event_id=str(getattr(fact, "vendor_event_id", "")),
        occurred_at=occurred_at,
        latest_at=latest,
        detail=getattr(fact, "reason", None) or getattr(fact, "outcome", None),
    )
