"""An order named the way people name it: its id, or its number (`R-…`, in any case).

The one resolver for every caller (the CS view and the console's order page over HTTP, the CLI's
replay and export commands), over the one index of order numbers (`projections.order_search`).
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.eventstore import LedgerStore
from domain.search import as_order_number
from projections.db import ViewDatabase
from projections.order_search import order_id_by_number
from projections.runner import Projection, catch_up
from replay.history import as_uuid

INDEX = "order_search"


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
    index = next(p for p in projections if p.name == INDEX)
    catch_up(store, views, index)  # a number written a moment ago is found
    # Numbers are written upper-case; text that is not shaped like one is looked up as typed.
    return order_id_by_number(views, organization_id, as_order_number(ref) or ref.strip())
