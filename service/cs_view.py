"""The CS view of one order, as data: the use case behind `GET /cs/orders/{id}`, the console's order
page and `ledger replay explain`.

The history half comes from the `cs_orders` projection (caught up first, so a CS agent reads their
own writes), or is computed from the streams when the order is not projected here; the catalog half
(refill eligibility now, current price) is added from the streams. Words are the API's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.errors import NotFound
from domain.subscriptions import Subscription
from projections.cs_orders import CsOrdersProjection, cs_document
from projections.db import ViewDatabase
from projections.runner import Projection, catch_up
from replay.history import NoSuchOrder, fold_events, order_stream
from replay.support_view import complete_view
from service import subscriptions
from service.deps import Deps
from service.unit import Context


def cs_view_data(
    deps: Deps, views: ViewDatabase, projections: Sequence[Projection], ctx: Context, order_id: str
) -> tuple[dict[str, Any], Subscription | None]:
    """The order's CS document and, for a subscription cycle, its subscription; NotFound otherwise."""
    store, org = deps.store, ctx.organization_id
    doc = None
    projection = next((p for p in projections if p.name == "cs_orders"), None)
    try:
        if projection is not None:
            catch_up(store, views, projection)  # read your writes
            doc = cs_document(views, org, order_id)
        if doc is None:  # not (yet) projected here: compute the same document from the streams
            order = fold_events("order", order_id, order_stream(store, org, order_id))
            doc = CsOrdersProjection(store).document(order)
        view: dict[str, Any] = complete_view(store, org, order_id, doc)
    except NoSuchOrder:
        raise NotFound("No such order.") from None
    sub_id = view.get("subscription_id")
    subscription = subscriptions.get_subscription(deps, ctx, sub_id) if sub_id else None
    return view, subscription
