"""Finding orders from what a patient says, for CS: `GET /cs/orders?q=` and the console's search box.

One query text is an order number (the original's, which also finds its refills, or a refill's), an
e-mail, or a name (`domain.search.parse_query`). The read models are caught up first (read your
writes), and every search is recorded as an `OrdersSearched` event, as history reads are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.eventstore import LedgerStore
from domain.search import OrderQuery, parse_query
from projections import order_search as index
from projections.db import ViewDatabase
from projections.runner import Projection, catch_up
from service import audit
from service.deps import Deps
from service.unit import Context

READS = ("patient_index", "order_search", "order_status")


@dataclass(frozen=True)
class SearchPage:
    query: OrderQuery
    orders: list[index.OrderRow]
    next_after: int | None  # pass as `after` for the next page; None on the last one


def refresh(store: LedgerStore, views: ViewDatabase, projections: Sequence[Projection]) -> None:
    for projection in projections:
        if projection.name in READS:
            catch_up(store, views, projection)


def search_orders(
    deps: Deps,
    views: ViewDatabase,
    projections: Sequence[Projection],
    ctx: Context,
    raw: str,
    *,
    limit: int = 20,
    after: int | None = None,
    purpose: str | None = None,
) -> SearchPage:
    query = parse_query(raw)  # 422 naming `q` before anything is read or written
    refresh(deps.store, views, projections)
    org, before = ctx.organization_id, after if after is not None else index.NO_CURSOR
    match query.kind:
        case "number":
            rows = index.by_number(views, org, query.text, before=before, limit=limit + 1)
        case "email":
            rows = index.by_email(views, org, query.text, before=before, limit=limit + 1)
        case _:
            rows = index.by_name(views, org, query.words, before=before, limit=limit + 1)
    page = rows[:limit]
    audit.record_search(deps, ctx, query.text, [r.order_id for r in page], purpose)
    return SearchPage(query, page, page[-1].position if len(rows) > limit else None)
