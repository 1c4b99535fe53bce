"""Recording who exported or read which records, when and why; and reading an export's record back.

`record_history_read` is the hook for every CS/ops read of an order's timeline
(`GET /orders/{id}/events`): call it before returning the events, with the caller's stated purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from domain.audit import (
    ComplianceExport,
    ComplianceExportCompleted,
    ComplianceExportDownloaded,
    ComplianceExportFailed,
    OrderHistoryRead,
    OrdersSearched,
    finish_export,
    request_export,
)
from domain.events import Fact
from service.deps import Deps, retry_on_conflict
from service.unit import Context, load_owned

DEFAULT_PURPOSE = "unspecified"


def _record_access(deps: Deps, ctx: Context, fact: Callable[[datetime], Fact]) -> str:
    """Append one access fact in its own small aggregate (reads never contend); returns its id."""
    access_id = deps.new_uuid()
    batch = deps.batch(ctx)
    batch.start(access_id, fact(batch.now))
    deps.commit(batch)
    return str(access_id)


def _purpose(purpose: str | None) -> str:
    return (purpose or "").strip() or DEFAULT_PURPOSE


def record_history_read(deps: Deps, ctx: Context, order_id: str, purpose: str | None) -> str:
    """Append an `OrderHistoryRead` (who: the actor, what: the order, when: now, why: purpose)."""
    return _record_access(
        deps,
        ctx,
        lambda now: OrderHistoryRead(
            order_id=order_id, read_by=ctx.actor.label(), purpose=_purpose(purpose), read_at=now
        ),
    )


def record_search(deps: Deps, ctx: Context, query: str, order_ids: Sequence[str], purpose: str | None) -> str:
    """Append an `OrdersSearched`: who looked for what (an e-mail or a name is personal) and what they saw."""
    return _record_access(
        deps,
        ctx,
        lambda now: OrdersSearched(
            query=query,
            searched_by=ctx.actor.label(),
            purpose=_purpose(purpose),
            order_ids=tuple(order_ids),
            searched_at=now,
        ),
    )


def record_download(deps: Deps, ctx: Context, export_id: str, file: str) -> None:
    """Append `ComplianceExportDownloaded` to the export's own stream before the file is handed out."""

    def attempt() -> None:
        loaded = load_owned(deps.store, ctx, ComplianceExport, UUID(export_id))
        batch = deps.batch(ctx)
        batch.extend(
            loaded,
            ComplianceExportDownloaded(file=file, downloaded_by=ctx.actor.label(), downloaded_at=batch.now),
        )
        deps.commit(batch)

    retry_on_conflict(attempt)


def start_export(
    deps: Deps,
    ctx: Context,
    *,
    purpose: str,
    patient_id: str | None = None,
    order_id: str | None = None,
    period_from: datetime | None = None,
    period_to: datetime | None = None,
) -> ComplianceExport:
    export_id = deps.new_uuid()
    batch = deps.batch(ctx)
    fact = request_export(
        requested_by=ctx.actor.label(),
        purpose=purpose,
        patient_id=patient_id,
        order_id=order_id,
        period_from=period_from,
        period_to=period_to,
        now=batch.now,
    )
    batch.start(export_id, fact)
    deps.commit(batch)
    return ComplianceExport(id=str(export_id), requested=fact)


def get_export(deps: Deps, ctx: Context, export_id: str) -> ComplianceExport:
    state = load_owned(deps.store, ctx, ComplianceExport, export_id).state
    return state


def complete_export(
    deps: Deps,
    ctx: Context,
    export_id: str,
    *,
    events: int,
    first_position: int | None,
    last_position: int | None,
    manifest_sha256: str,
    location: str,
) -> ComplianceExport:
    return _finish(
        deps,
        ctx,
        export_id,
        lambda now: ComplianceExportCompleted(
            events=events,
            first_position=first_position,
            last_position=last_position,
            manifest_sha256=manifest_sha256,
            location=location,
            completed_at=now,
        ),
    )


def fail_export(deps: Deps, ctx: Context, export_id: str, error: str) -> ComplianceExport:
    return _finish(deps, ctx, export_id, lambda now: ComplianceExportFailed(error=error[:500], failed_at=now))


def _finish(
    deps: Deps,
    ctx: Context,
    export_id: str,
    outcome: Callable[[datetime], ComplianceExportCompleted | ComplianceExportFailed],
) -> ComplianceExport:
    def attempt() -> ComplianceExport:
        loaded = load_owned(deps.store, ctx, ComplianceExport, UUID(export_id))
        batch = deps.batch(ctx)
        batch.extend(loaded, *finish_export(loaded.state, outcome(batch.now)))
        deps.commit(batch)
        return get_export(deps, ctx, export_id)

    return retry_on_conflict(attempt)
