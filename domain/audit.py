"""Audit: who exported or read which records, when and why — themselves events in the ledger.

A compliance export is an aggregate (requested, then completed or failed). A CS read of an order's
history is one `OrderHistoryRead` fact (a search, one `OrdersSearched`) in its own small aggregate, so
reads never contend.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from domain.errors import Conflict, InvalidCommand
from domain.events import Fact


class ComplianceExportRequested(Fact):
    TYPE = "ComplianceExportRequested"
    AGGREGATE = "compliance_export"
    requested_by: str
    purpose: str
    patient_id: str | None = None
    order_id: str | None = None
    period_from: datetime | None = None
    period_to: datetime | None = None
    requested_at: datetime


class ComplianceExportCompleted(Fact):
    TYPE = "ComplianceExportCompleted"
    AGGREGATE = "compliance_export"
    events: int
    first_position: int | None
    last_position: int | None
    manifest_sha256: str
    location: str
    completed_at: datetime


class ComplianceExportFailed(Fact):
    TYPE = "ComplianceExportFailed"
    AGGREGATE = "compliance_export"
    error: str
    failed_at: datetime


class OrderHistoryRead(Fact):
    TYPE = "OrderHistoryRead"
    AGGREGATE = "record_access"
    order_id: str
    read_by: str
    purpose: str
    read_at: datetime


class OrdersSearched(Fact):
    """A CS search: what was typed is personal information, so who searched for it is on record."""

    TYPE = "OrdersSearched"
    AGGREGATE = "record_access"
    query: str
    searched_by: str
    purpose: str
    order_ids: tuple[str, ...]  # what the search showed (first page)
    searched_at: datetime


class ComplianceExportDownloaded(Fact):
    """A file of a completed export was handed out over HTTP: who took which file, and when."""

    TYPE = "ComplianceExportDownloaded"
    AGGREGATE = "compliance_export"
    file: str
    downloaded_by: str
    downloaded_at: datetime


ExportStatus = Literal["running", "completed", "failed"]


@dataclass(frozen=True)
class ComplianceExport:
    id: str
    requested: ComplianceExportRequested
    status: ExportStatus = "running"
    completed: ComplianceExportCompleted | None = None
    error: str | None = None


def request_export(
    *,
    requested_by: str,
    purpose: str,
    patient_id: str | None,
    order_id: str | None,
    period_from: datetime | None,
    period_to: datetime | None,
    now: datetime,
) -> ComplianceExportRequested:
    """Exactly one scope: a patient, an order, or a period (either bound may be open)."""
    validate_scope(purpose, patient_id, order_id, period_from, period_to)
    return ComplianceExportRequested(
        requested_by=requested_by,
        purpose=purpose.strip(),
        patient_id=patient_id,
        order_id=order_id,
        period_from=period_from,
        period_to=period_to,
        requested_at=now,
    )


def validate_scope(
    purpose: str,
    patient_id: str | None,
    order_id: str | None,
    period_from: datetime | None,
    period_to: datetime | None,
) -> None:
    scopes = [patient_id is not None, order_id is not None, period_from is not None or period_to is not None]
    if sum(scopes) != 1:
        raise InvalidCommand(field="scope", reasons=("EXPORT_SCOPE_INVALID",))
    if period_from is not None and period_to is not None and period_from >= period_to:
        raise InvalidCommand(field="from", rule="EXPORT_PERIOD_REVERSED", reasons=("EXPORT_SCOPE_INVALID",))
    if not purpose.strip():
        raise InvalidCommand(field="purpose", reasons=("PURPOSE_REQUIRED",))


def finish_export(
    state: ComplianceExport, outcome: ComplianceExportCompleted | ComplianceExportFailed
) -> list[Fact]:
    if state.status != "running":
        raise Conflict(reasons=("EXPORT_FINISHED",), facts={"status": state.status})
    return [outcome]


def evolve_export(state: ComplianceExport | None, fact: Fact, aggregate_id: str) -> ComplianceExport:
    if isinstance(fact, ComplianceExportRequested):
        return ComplianceExport(id=aggregate_id, requested=fact)
    assert state is not None
    if isinstance(fact, ComplianceExportCompleted):
        return replace(state, status="completed", completed=fact)
    if isinstance(fact, ComplianceExportFailed):
        return replace(state, status="failed", error=fact.error)
    return state


Access = OrderHistoryRead | OrdersSearched


def evolve_access(state: Access | None, fact: Fact, aggregate_id: str) -> Access:
    assert isinstance(fact, OrderHistoryRead | OrdersSearched)
    return fact


def _register() -> None:
    from domain.aggregates import register_aggregate

    register_aggregate("compliance_export", evolve_export)
    register_aggregate("record_access", evolve_access)


_register()
