"""The support read models, in the order the bootstrap registers them."""

from __future__ import annotations

from adapters.eventstore import LedgerStore
from projections.cs_orders import CsOrdersProjection
from projections.order_status import OrderStatusProjection
from projections.runner import Projection
from projections.stuck import StuckOrdersProjection


def support_projections(store: LedgerStore) -> list[Projection]:
    return [OrderStatusProjection(store), CsOrdersProjection(store), StuckOrdersProjection(store)]
