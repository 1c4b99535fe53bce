"""CS, ops and replay paths of API.md: the CS view, an order's timeline and past state, stuck orders,
projection lag and rebuilds without downtime."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from api import models as m
from api.endpoint import Call, Reply, endpoint
from api.explain_words import blocker_from, blocker_out, blocker_words, explanation_out, summary
from api.order_words import kind_words
from api.presentation import fix_call
from api.problems import ApiError, Problem
from api.routes_escalations import open_on_order
from api.views import order_out, subscription_out
from domain.errors import NotFound
from domain.explain import explain
from projections.order_status import status_counts
from projections.runner import Projection, catch_up, is_versioned, position_of
from projections.timers import overdue_timers
from projections.worker import lag_of
from replay.history import NoSuchOrder
from replay.order_ref import resolve_order
from replay.rebuild_jobs import start_rebuild
from replay.state import VersionBeyondHistory, state_at
from replay.timeline import timeline
from service import stuck
from service.audit import record_history_read
from service.cs_view import cs_view_data

ERRORS: dict[int, type[Problem]] = {401: Problem, 403: Problem, 404: Problem, 422: Problem}


TIMER_GRACE = timedelta(minutes=1)  # beyond any wake-up delay of a running timer worker


class Loose(BaseModel):
    """Nested blocks whose keys are documented in API.md and domain.support; extra keys allowed."""

    model_config = {"extra": "allow"}


class EscalationOut(BaseModel):
    """An open escalation on this order (raised by the escalation policy; see GET /cs/escalations)."""

    code: str
    sentence: str
    id: str
    kind_label: str
    raised_at: str


class BlockerOut(BaseModel):
    code: str
    reason: str
    fix: str
    needs_action: bool
    action: str | None = None  # the domain's action code, for staff: what clears it


class CsOriginalOut(BaseModel):
    id: str
    number: str | None
    paid: bool | None
    status: str | None


class CsRefillProductOut(BaseModel):
    id: str
    name: str | None
    active: bool
    current_price_cents: int | None
    price_on_this_order_cents: int | None


class CsRefillOut(BaseModel):
    eligible: bool
    reasons: list[str]
    product: CsRefillProductOut | None
    refillable_products: list[Loose]


class CsInvoiceOut(BaseModel):
    id: str
    status: str
    amount_cents: int
    currency: str


class CsPaymentOut(BaseModel):
    status: str
    gateway: str | None
    gateway_error: str | None
    decline_code: str | None
    attempts: int


class CsViewOut(BaseModel):
    order_id: str
    order_number: str
    patient_id: str
    status: str
    status_explanation: str
    waiting_for: list[BlockerOut]
    source: str
    source_context: str
    kind_label: str
    source_explanation: str
    is_refill: bool
    is_subscription_cycle: bool
    subscription_id: str | None
    cycle_number: int | None
    original_order: CsOriginalOut | None
    refill_product_id: str | None
    refill_request: Loose | None
    refill_orders: list[Loose]
    refill: CsRefillOut
    lines: list[Loose]
    placed_at: str
    charged_at: str | None
    invoice: CsInvoiceOut | None
    payment: CsPaymentOut
    intake: Loose
    medical_review: Loose
    fulfillment: Loose
    escalations: list[EscalationOut]
    # A subscription cycle's subscription: next cycle date, dunning state, attempts with gateway messages.
    subscription: m.SubscriptionOut | None = None


class ActorOut(BaseModel):
    kind: str
    id: str


class TimelineEventOut(BaseModel):
    position: int
    id: str
    occurred_at: str
    type: str
    aggregate_type: str
    aggregate_id: str
    version: int
    actor: ActorOut
    correlation_id: str
    causation_id: str
    data: dict[str, Any]
    change: dict[str, Any]


class TimelineOut(BaseModel):
    order_id: str
    events: list[TimelineEventOut]


class StateQuery(BaseModel):
    version: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    at: datetime | None = None


class StateOut(BaseModel):
    order_id: str
    version: int
    latest_version: int
    position: int
    order: m.OrderOut
    explanation: Loose


class StuckQuery(BaseModel):
    code: Annotated[str | None, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")] = None
    status: Annotated[str | None, StringConstraints(pattern=r"^[A-Z][A-Z_]{0,63}$")] = None
    older_than: Annotated[float | None, Field(ge=0, le=10**9)] = None  # seconds in this state
    only_action: bool = False
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    after: Annotated[str | None, StringConstraints(min_length=1, max_length=200)] = None


class FixCallOut(BaseModel):
    """The fix as the call that performs it (the API accepts it for this order as it stands)."""

    operation: str
    label: str
    method: str
    path: str
    body: dict[str, str] | None  # fill `reason` with the operator's own words
    roles: list[str]


class StuckOrderOut(BaseModel):
    order_id: str
    order_number: str
    patient_id: str
    status: str
    since: str
    age_seconds: float
    blocking_code: str
    blocking_reason: str
    fix: str
    needs_action: bool
    action: str
    fix_call: FixCallOut | None


class OverdueTimerOut(BaseModel):
    timer_id: str
    purpose: str  # e.g. subscription.cycle, subscription.charge
    key: str  # which occurrence: cycle-3, cycle-3-charge-1
    stream_type: str
    stream_id: str
    due_at: datetime
    overdue_seconds: float


class StuckOut(BaseModel):
    orders: list[StuckOrderOut]
    total: int
    next_after: str | None
    # Durable timers that should have fired more than a minute ago: the timer worker is down or failing.
    overdue_timers: list[OverdueTimerOut] = []
    overdue_timers_total: int = 0


class RebuildStateOut(BaseModel):
    phase: str
    done: int
    total: int
    rate: float
    eta_seconds: float | None
    error: str | None = None


class ProjectionOut(BaseModel):
    name: str
    position: int
    head: int
    events_behind: int
    seconds_behind: float
    rebuildable: bool
    rebuild: RebuildStateOut | None


class ProjectionsOut(BaseModel):
    projections: list[ProjectionOut]


def _projection(call: Call, name: str) -> Projection:
    found = next((p for p in call.runtime.projections if p.name == name), None)
    if found is None:
        raise NotFound("No such projection.")
    return found


def _order_or_404(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except NoSuchOrder:
        raise NotFound("No such order.") from None


def order_id_for(call: Call, ref: str) -> str:
    """The order an id or a number (`R-…`) names in the caller's organization; 404 when none."""
    rt = call.runtime
    found = resolve_order(rt.deps.store, rt.views, rt.projections, call.principal.organization_id, ref)
    if found is None:
        raise NotFound("No such order.")
    return found


def cs_view(call: Call, order_id: str) -> dict[str, Any]:
    rt = call.runtime
    view, sub = cs_view_data(rt.deps, rt.views, rt.projections, call.ctx(), order_id)
    # Always present (the console's templates are strict about names): a cycle's schedule and dunning.
    view["subscription"] = subscription_out(sub).model_dump(mode="json") if sub is not None else None
    org = call.principal.organization_id
    view["escalations"] = open_on_order(rt.deps.store, rt.views, rt.projections, org, order_id)
    return in_words(view)


def in_words(view: dict[str, Any]) -> dict[str, Any]:
    """The projection keeps typed blockers; CS reads them as sentences with their fix."""
    waiting = [blocker_from(b) for b in view["waiting_for"]]
    original = view.get("original_order") or {}
    label, explanation = kind_words(
        view["source_context"], original.get("number"), view["cycle_number"], "staff"
    )
    return {
        **view,
        "kind_label": label,
        "source_explanation": explanation,
        "status_explanation": summary(view["status"], waiting, "staff"),
        "waiting_for": [blocker_out(b, view["order_id"], "staff") for b in waiting],
    }


@endpoint(
    "GET",
    "/cs/orders/{order_id}",
    summary="The CS view of one order (by id or number), with escalations",
    roles=("cs", "ops", "staff"),
    tag="support",
    responses={200: CsViewOut, **ERRORS},
)
def get_cs_view(call: Call) -> Reply:
    order_id = order_id_for(call, call.path("order_id"))
    return Reply(200, CsViewOut.model_validate(cs_view(call, order_id)))


@endpoint(
    "GET",
    "/orders/{order_id}/events",
    summary="An order's full timeline with its invoice and refills",
    roles=("cs", "ops", "compliance"),
    tag="support",
    responses={200: TimelineOut, **ERRORS},
)
def get_timeline(call: Call) -> Reply:
    order_id = call.path("order_id")
    entries = _order_or_404(timeline, call.runtime.deps.store, call.principal.organization_id, order_id)
    # Every history read is itself recorded: who, which order, when, and why (`?purpose=`).
    record_history_read(call.runtime.deps, call.ctx(), order_id, call.request.query_params.get("purpose"))
    events = [
        TimelineEventOut(id=e.event_id, **{k: v for k, v in e.as_dict().items() if k != "event_id"})
        for e in entries
    ]
    return Reply(200, TimelineOut(order_id=order_id, events=events))


@endpoint(
    "GET",
    "/orders/{order_id}/state",
    summary="An order as it was at a version or a time",
    roles=("cs", "ops"),
    tag="support",
    query=StateQuery,
    responses={200: StateOut, **ERRORS},
)
def get_state(call: Call) -> Reply:
    q: StateQuery = call.query
    if (q.version is None) == (q.at is None):
        raise ApiError(
            422, "Unprocessable Content", "Give exactly one of `version` or `at`.", reasons=("VERSION_OR_AT",)
        )
    at = q.at.replace(tzinfo=UTC) if q.at is not None and q.at.tzinfo is None else q.at
    try:
        found = _order_or_404(
            state_at,
            call.runtime.deps.store,
            call.principal.organization_id,
            call.path("order_id"),
            version=q.version,
            at=at,
        )
    except VersionBeyondHistory as past:
        raise ApiError(
            422,
            "Unprocessable Content",
            f"The order has versions 1 to {past.latest}; there is no version {past.asked}.",
            reasons=("VERSION_BEYOND_HISTORY",),
            extra={"field": "version", "latest_version": past.latest},
        ) from None
    if found is None or found.invoice is None:
        raise NotFound("The order did not exist yet at that point.")
    return Reply(
        200,
        StateOut(
            order_id=found.order.id,
            version=found.version,
            latest_version=found.latest_version,
            position=found.position,
            order=order_out(found.order, found.invoice),
            explanation=Loose(**explanation_out(explain(found.order, found.invoice), "staff")),
        ),
    )


@endpoint(
    "GET",
    "/ops/stuck",
    summary="Open orders not moving: age, blocking cause and fix",
    roles=("ops", "cs"),
    tag="support",
    query=StuckQuery,
    responses={200: StuckOut, **ERRORS},
)
def get_stuck(call: Call) -> Reply:
    q: StuckQuery = call.query
    rt = call.runtime
    now = rt.deps.clock()
    try:
        page = stuck.stuck_orders(
            rt.deps,
            rt.views,
            rt.projections,
            call.ctx(),
            now,
            partners=frozenset(rt.pharmacies),
            code=q.code,
            status=q.status,
            older_than=timedelta(seconds=q.older_than) if q.older_than is not None else None,
            only_action=q.only_action,
            # Twice the reconciler's stale limit: by then it re-drove the attempt and could not settle it.
            payment_overdue_after=2 * rt.deps.pending_after,
            after=q.after,
            limit=q.limit,
        )
    except ValueError:
        raise ApiError(
            422, "Invalid request", "`after` is not a cursor this list gave out.", reasons=("BAD_CURSOR",)
        ) from None
    for timers_index in (p for p in rt.projections if p.name == "due_timers"):
        catch_up(rt.deps.store, rt.views, timers_index)
    timers, timers_total = overdue_timers(
        rt.views, call.principal.organization_id, now - TIMER_GRACE, limit=q.limit
    )
    overdue = [
        OverdueTimerOut(
            timer_id=t.timer_id,
            purpose=t.purpose,
            key=t.key,
            stream_type=t.stream_type,
            stream_id=t.stream_id,
            due_at=t.due_at,
            overdue_seconds=(now - t.due_at).total_seconds(),
        )
        for t in timers
    ]
    return Reply(
        200,
        StuckOut(
            orders=[_stuck_row(r) for r in page.orders],
            total=page.total,
            next_after=page.next_after,
            overdue_timers=overdue,
            overdue_timers_total=timers_total,
        ),
    )


def _stuck_row(row: stuck.StuckOrder) -> StuckOrderOut:
    reason, fix = blocker_words(row.blocker, row.order_id, "staff")
    call = None
    if row.fix is not None:
        found = fix_call(row.fix, row.order_id)
        call = FixCallOut(**{**asdict(found), "roles": list(found.roles)})
    return StuckOrderOut(
        order_id=row.order_id,
        order_number=row.order_number,
        patient_id=row.patient_id,
        status=row.status,
        since=row.since.isoformat(),
        age_seconds=row.age_seconds,
        blocking_code=row.blocker.code,
        blocking_reason=reason,
        fix=fix,
        needs_action=row.needs_action,
        action=row.blocker.action,
        fix_call=call,
    )


class StatusCountsOut(BaseModel):
    counts: dict[str, int]
    position: int


@endpoint(
    "GET",
    "/ops/order-statuses",
    summary="How many orders are in each status (the order_status view)",
    roles=("ops", "cs"),
    tag="support",
    responses={200: StatusCountsOut, **ERRORS},
)
def get_status_counts(call: Call) -> Reply:
    # Read as the view is (no catch-up): an ops dashboard, and proof the view serves during a rebuild.
    return Reply(
        200,
        StatusCountsOut(
            counts=status_counts(call.runtime.views, call.principal.organization_id),
            position=position_of(call.runtime.views, "order_status"),
        ),
    )


def _rebuilds(call: Call) -> dict[str, dict[str, Any]]:
    return call.runtime.rebuilds


@endpoint(
    "GET",
    "/ops/projections",
    summary="Each projection's position, lag and rebuild progress",
    roles=("ops",),
    tag="support",
    responses={200: ProjectionsOut, **ERRORS},
)
def get_projections(call: Call) -> Reply:
    rebuilds = _rebuilds(call)
    out = []
    for p in call.runtime.projections:
        lag = lag_of(call.runtime.deps.store, call.runtime.views, p)
        state = rebuilds.get(p.name)
        out.append(
            ProjectionOut(
                **lag.as_dict(),
                rebuildable=is_versioned(p),
                rebuild=RebuildStateOut(**state) if state else None,
            )
        )
    return Reply(200, ProjectionsOut(projections=out))


@endpoint(
    "POST",
    "/ops/projections/{name}/rebuild",
    summary="Rebuild a projection beside the live one, then swap",
    roles=("ops",),
    tag="support",
    responses={202: RebuildStateOut, 409: Problem, **ERRORS},
)
def post_rebuild(call: Call) -> Reply:
    projection = _projection(call, call.path("name"))
    rt = call.runtime
    state = start_rebuild(rt.deps.store, rt.views, projection, rt.rebuilds, rt.rebuild_lock)
    return Reply(202, RebuildStateOut(**state))


routes = [get_cs_view, get_timeline, get_state, get_stuck, get_status_counts, get_projections, post_rebuild]
