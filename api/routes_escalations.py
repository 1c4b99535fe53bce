"""`GET /cs/escalations`: the queue CS works from — escalations raised and resolved as events by the
escalation policy, oldest open first, each with its age, why, and the seed's report block."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from adapters.eventstore import LedgerStore
from api.endpoint import Call, Reply, endpoint
from api.presentation import escalation_kind_words, escalation_report_text, escalation_why
from api.problems import Problem
from projections.db import ViewDatabase
from projections.runner import Projection
from replay.escalation_queue import QueueEntry, escalation_queue

ERRORS: dict[int, type[Problem]] = {400: Problem, 401: Problem, 403: Problem, 422: Problem}


class EscalationsQuery(BaseModel):
    kind: Annotated[str | None, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")] = None
    state: Literal["open", "resolved"] = "open"
    older_than: Annotated[float | None, Field(ge=0, le=10**9)] = None  # seconds since raised
    order_id: Annotated[str | None, StringConstraints(min_length=1, max_length=64)] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    after: Annotated[int, Field(ge=0, le=2**62)] = 0


class EscalationOut(BaseModel):
    id: str
    kind: str
    kind_label: str
    order_id: str
    order_number: str
    patient_id: str
    patient_name: str | None
    raised_at: datetime
    resolved_at: datetime | None
    age_seconds: float
    details: dict[str, Any]
    why: str
    report: str


class EscalationsOut(BaseModel):
    escalations: list[EscalationOut]
    total: int
    next_after: int | None


def escalation_out(entry: QueueEntry, now: datetime) -> EscalationOut:
    e = entry.escalation
    return EscalationOut(
        id=e.escalation_id,
        kind=e.kind,
        kind_label=escalation_kind_words(e.kind),
        order_id=e.order_id,
        order_number=e.order_number,
        patient_id=e.patient_id,
        patient_name=entry.patient_name,
        raised_at=e.raised_at,
        resolved_at=e.resolved_at,
        age_seconds=round(((e.resolved_at or now) - e.raised_at).total_seconds(), 1),
        details=e.details.model_dump(mode="json", exclude_defaults=True),
        why=escalation_why(e.kind, e.details),
        report=escalation_report_text(entry.report) if entry.report else "The order cannot be read.",
    )


def open_on_order(
    store: LedgerStore, views: ViewDatabase, projections: Sequence[Projection], org: str, order_id: str
) -> list[dict[str, Any]]:
    """The order's open escalations for the CS view and `ledger replay explain`: code and sentence."""
    page = escalation_queue(store, views, projections, org, datetime.now(UTC), order_id=order_id, limit=100)
    return [
        {
            "code": e.escalation.kind,
            "sentence": escalation_why(e.escalation.kind, e.escalation.details),
            "id": e.escalation.escalation_id,
            "kind_label": escalation_kind_words(e.escalation.kind),
            "raised_at": e.escalation.raised_at.isoformat(),
        }
        for e in page.entries
    ]


@endpoint(
    "GET",
    "/cs/escalations",
    summary="Escalations raised by policy, oldest open first, with why and the report to copy",
    roles=("cs", "ops"),
    tag="support",
    query=EscalationsQuery,
    responses={200: EscalationsOut, **ERRORS},
)
def get_escalations(call: Call) -> Reply:
    q: EscalationsQuery = call.query
    rt, now = call.runtime, datetime.now(UTC)
    page = escalation_queue(
        rt.deps.store,
        rt.views,
        rt.projections,
        call.principal.organization_id,
        now,
        state=q.state,
        kind=q.kind,
        older_than=timedelta(seconds=q.older_than) if q.older_than is not None else None,
        order_id=q.order_id,
        after=q.after,
        limit=q.limit,
    )
    return Reply(
        200,
        EscalationsOut(
            escalations=[escalation_out(e, now) for e in page.entries],
            total=page.total,
            next_after=page.next_after,
        ),
    )


routes = [get_escalations]
