"""`GET /cs/orders?q=`: find orders from what a patient says (order number, e-mail or name); audited."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.endpoint import Call, Reply, endpoint
from api.order_words import kind_words
from api.problems import Problem
from projections.order_search import OrderRow
from service.search import search_orders

ERRORS: dict[int, type[Problem]] = {400: Problem, 401: Problem, 403: Problem, 422: Problem}


class SearchQuery(BaseModel):
    q: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    after: Annotated[int | None, Field(ge=0, le=2**62)] = None
    purpose: Annotated[str | None, StringConstraints(max_length=200)] = None


class FoundOrderOut(BaseModel):
    id: str
    number: str
    patient_id: str
    patient_name: str | None
    patient_email: str | None
    status: str | None
    source_context: str
    kind_label: str
    refill_of_order_number: str | None
    placed_at: str


class SearchOut(BaseModel):
    query: str
    matched_by: str  # number | email | name
    orders: list[FoundOrderOut]
    next_after: int | None


def found_out(row: OrderRow) -> FoundOrderOut:
    return FoundOrderOut(
        id=row.order_id,
        number=row.number,
        patient_id=row.patient_id,
        patient_name=row.patient_name,
        patient_email=row.patient_email,
        status=row.status,
        source_context=row.source_context,
        kind_label=kind_words(row.source_context, row.refill_of_number, row.cycle_number, "staff")[0],
        refill_of_order_number=row.refill_of_number,
        placed_at=row.placed_at,
    )


@endpoint(
    "GET",
    "/cs/orders",
    summary="Find orders by order number (original or refill), patient e-mail or name (audited)",
    roles=("cs", "ops", "staff"),
    tag="support",
    query=SearchQuery,
    responses={200: SearchOut, **ERRORS},
)
def get_search(call: Call) -> Reply:
    q: SearchQuery = call.query
    rt = call.runtime
    page = search_orders(
        rt.deps, rt.views, rt.projections, call.ctx(), q.q, limit=q.limit, after=q.after, purpose=q.purpose
    )
    return Reply(
        200,
        SearchOut(
            query=page.query.text,
            matched_by=page.query.kind,
            orders=[found_out(r) for r in page.orders],
            next_after=page.next_after,
        ),
    )


routes = [get_search]
