"""An order as it was: at one of its versions, or at a moment; its invoice as of the same point."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.eventstore import LedgerStore
from domain.invoices import Invoice
from domain.orders import Order
from replay.history import fold_events, order_stream, positioned, stream


class VersionBeyondHistory(LookupError):
    """The order has no such version yet: answering with its latest state would be a quiet lie."""

    def __init__(self, asked: int, latest: int) -> None:
        super().__init__(asked, latest)
        self.asked, self.latest = asked, latest


@dataclass(frozen=True)
class StateAt:
    order: Order
    invoice: Invoice | None
    version: int  # the order's version reached
    position: int  # the global position the state reflects
    latest_version: int


def state_at(
    store: LedgerStore,
    organization_id: str,
    order_id: str,
    *,
    version: int | None = None,
    at: datetime | None = None,
) -> StateAt | None:
    """None when the order did not exist yet at that point."""
    events = order_stream(store, organization_id, order_id)
    invoice_id = events[0].fact.invoice_id  # type: ignore[attr-defined]
    ordered = positioned(store, [events, stream(store, invoice_id)])
    oid = events[0].originator_id
    if version is not None and not 1 <= version <= events[-1].originator_version:
        raise VersionBeyondHistory(version, events[-1].originator_version)
    if version is not None:
        # Right after the order's version N was written; the invoice as it was at that position.
        cut = next(
            (
                p.position
                for p in ordered
                if p.event.originator_id == oid and p.event.originator_version == version
            ),
            None,
        )
        if cut is None:  # a gap in the stream: never expected, but never answered with another version
            raise VersionBeyondHistory(version, events[-1].originator_version)
        kept = [p for p in ordered if p.position <= cut]
    else:
        assert at is not None
        kept = [p for p in ordered if p.event.meta.occurred_at <= at]
    mine = [p.event for p in kept if p.event.originator_id == oid]
    if not mine:
        return None
    theirs = [p.event for p in kept if p.event.originator_id != oid]
    if not theirs:  # issued in the order's own transaction, just after it
        theirs = [p.event for p in ordered if p.event.originator_id != oid][:1]
    order = fold_events("order", order_id, mine)
    invoice = fold_events("invoice", invoice_id, theirs) if theirs else None
    return StateAt(
        order, invoice, mine[-1].originator_version, kept[-1].position, events[-1].originator_version
    )
