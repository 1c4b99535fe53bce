"""An order named the way people name it: its id, or its number (R-…) from the order index."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.eventstore import LedgerStore
from projections.db import ViewDatabase
from projections.runner import Projection, catch_up
from replay.history import as_uuid


def resolve_order(
    store: LedgerStore,
    views: ViewDatabase,
    projections: Sequence[Projection],
    organization_id: str,
    ref: str,
) -> str | None:
    """The order id for an id or a number; None when the organization has no such order."""
    if as_uuid(ref) is not None:
        return ref
    index = next(p for p in projections if p.name == "order_index")
    catch_up(store, views, index)  # a number written a moment ago is found
    with views.transaction() as cur:
        cur.execute(
            "SELECT order_id FROM order_index WHERE organization_id = %s AND number = %s",
            (organization_id, ref.strip()),
        )
        row = cur.fetchone()
    return None if row is None else str(row[0])
