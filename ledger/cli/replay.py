"""`ledger replay timeline | state | explain | rebuild | drift | lag | redrive`: ops tools over history.

An order is named by its id or its number (R-…). Every command reads the store and views the
settings point at (DATABASE_URL, else the SQLite files under ./var) and starts no workers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.eventstore import LedgerStore
from api.explain_words import explanation_out
from api.order_words import kind_words
from api.routes_escalations import open_on_order
from domain.errors import NotFound
from domain.explain import explain
from ledger.bootstrap import build_offline, build_runtime
from ledger.cli.common import cli_settings
from projections.cs_orders import CsOrdersProjection, cs_document
from projections.db import ViewDatabase
from projections.runner import Projection, catch_up
from projections.worker import lag_of
from replay import rebuild as rebuilding
from replay.history import NoSuchOrder, fold_events, order_stream
from replay.order_ref import resolve_order
from replay.state import VersionBeyondHistory, state_at
from replay.support_view import complete_view, explain_order
from replay.timeline import timeline
from service.policies import redrive_order

replay_app = typer.Typer(
    help="Replay history: timelines, past states, explanations, rebuilds, drift, lag.", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)
OrderArg = Annotated[str, typer.Argument(help="Order id or order number (R-…)")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


@dataclass
class Tools:
    store: LedgerStore
    views: ViewDatabase
    projections: list[Projection]
    organization_id: str

    def projection(self, name: str) -> Projection:
        found = next((p for p in self.projections if p.name == name), None)
        if found is None:
            err.print(f"error: no projection {name!r}; one of {', '.join(p.name for p in self.projections)}")
            raise typer.Exit(2)
        return found

    def order_id(self, ref: str) -> str:
        found = resolve_order(self.store, self.views, self.projections, self.organization_id, ref)
        if found is None:
            err.print(f"error: no order {ref}")
            raise typer.Exit(1)
        return found


def _tools() -> Tools:
    offline = build_offline(cli_settings()[0])
    return Tools(offline.store, offline.views, offline.projections, offline.organization_id)


def _no_order(ref: str) -> typer.Exit:
    err.print(f"error: no order {ref}")
    return typer.Exit(1)


def _dump(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))


def _money(cents: Any) -> str:
    return f"${int(cents) / 100:,.2f}" if isinstance(cents, int) else ""


def _joined(values: Any) -> str:
    return ", ".join(str(v) for v in values or ())


# What ops needs to see of each event without opening its JSON: reasons, holds, amounts, references.
_DETAIL: dict[str, Callable[[dict[str, Any]], str]] = {
    "OrderPlaced": lambda d: _joined(f"{ln['quantity']}x {ln['name']}" for ln in d.get("lines", ())),
    "InvoiceIssued": lambda d: _money(d.get("amount_cents")),
    "PaymentAttempted": lambda d: (
        f"#{d.get('attempt')} {_money(d.get('amount_cents'))} via {d.get('gateway')}"
    ),
    "PaymentFailed": lambda d: f"{d.get('decline_code') or 'failed'}: {d.get('message')}",
    "PaymentSucceeded": lambda d: f"#{d.get('attempt')} {d.get('gateway_reference') or ''}".strip(),
    "RefillRequested": lambda d: f"from {d.get('original_order_number')}",
    "RefillChargeFailed": lambda d: str(d.get("message") or ""),
    "IntakeRecorded": lambda d: str(d.get("status") or ""),
    "MedicalReviewBlocked": lambda d: _joined(d.get("reasons")),
    "MedicalReviewFailed": lambda d: str(d.get("error") or ""),
    "MedicalReviewSubmitted": lambda d: f"{d.get('visit_type')} {_joined(d.get('med_ids'))}",
    "RxWritten": lambda d: _joined(d.get("med_ids")),
    "ConsultConcluded": lambda d: str(d.get("outcome") or ""),
    "ConsultCanceled": lambda d: str(d.get("reason") or ""),
    "NewConsultStarted": lambda d: str(d.get("reason") or ""),
    "FulfillmentHeld": lambda d: "held: " + _joined(d.get("failed_checks")),
    "FulfillmentReleased": lambda d: f"to {d.get('partner')}",
    "PharmacyOrderSubmitted": lambda d: f"{d.get('partner')} {d.get('external_id')}",
    "PharmacySubmissionFailed": lambda d: str(d.get("error") or ""),
    "PharmacyOrderRejected": lambda d: str(d.get("reason") or ""),
    "OrderShipped": lambda d: f"{d.get('carrier')} {d.get('tracking')}",
    "OrderCanceled": lambda d: str(d.get("reason") or ""),
    "OrderRefunded": lambda d: f"{_money(d.get('amount_cents'))} {d.get('reason') or ''}".strip(),
}


def event_detail(event_type: str, data: dict[str, Any]) -> str:
    describe = _DETAIL.get(event_type)
    return describe(data) if describe is not None else ""


@replay_app.command("timeline")
def timeline_cmd(
    order: OrderArg,
    as_json: AsJson = False,
    wide: Annotated[bool, typer.Option("--wide", help="Also show the actor id and causal ids")] = False,
) -> None:
    """Every event of the order, its invoice and its refills, in order, with who, what and why.

    The table fits 80 columns: time, event, who, the detail that matters (blocked reasons, holds,
    amounts, the gateway's message) and the status change. `--wide` adds ids; `--json` has it all.
    """
    t = _tools()
    try:
        entries = timeline(t.store, t.organization_id, t.order_id(order))
    except NoSuchOrder:
        raise _no_order(order) from None
    if as_json:
        _dump([{**e.as_dict(), "detail": event_detail(e.type, e.data)} for e in entries])
        return
    table = Table(title=f"Timeline of {order}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("UTC", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("by", overflow="fold")
    table.add_column("detail → status", overflow="fold")
    if wide:
        table.add_column("correlation / causation", overflow="fold")
    for e in entries:
        detail = event_detail(e.type, e.data)
        if e.change and e.change["before"] != e.change["after"]:
            detail = f"{detail} → {e.change['after']}".strip()
        row = [
            str(e.position),
            e.occurred_at[5:16].replace("T", " "),
            e.type,
            f"{e.actor['kind']}:{e.actor['id']}" if wide else e.actor["kind"],
            detail,
        ]
        if wide:
            row.append(f"{e.correlation_id} / {e.causation_id}")
        table.add_row(*row)
    out.print(table)


@replay_app.command("state")
def state_cmd(
    order: OrderArg,
    version: Annotated[int | None, typer.Option(help="The order's version")] = None,
    at: Annotated[
        datetime | None,
        typer.Option(
            help="A moment (UTC unless it names an offset)",
            # ISO with a T, or the way people type it: "2026-11-22 14:05" (seconds optional).
            formats=[
                "%Y-%m-%dT%H:%M:%S%z",
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M:%S%z",
                "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d %H:%M",
                "%Y-%m-%d",
            ],
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The order as it was at one of its versions or at a moment."""
    if (version is None) == (at is None):
        err.print("error: give exactly one of --version or --at")
        raise typer.Exit(2)
    t = _tools()
    when = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    try:
        found = state_at(t.store, t.organization_id, t.order_id(order), version=version, at=when)
    except NoSuchOrder:
        raise _no_order(order) from None
    except VersionBeyondHistory as past:
        err.print(f"error: {order} has versions 1 to {past.latest}; there is no version {past.asked}")
        raise typer.Exit(1) from None
    if found is None:
        err.print("The order did not exist yet at that point.")
        raise typer.Exit(1)
    said = explanation_out(explain(found.order, found.invoice), "staff")
    said.update(
        version=found.version,
        latest_version=found.latest_version,
        position=found.position,
        invoice_status=found.invoice.status if found.invoice else None,
    )
    if as_json:
        _dump(said)
        return
    out.print(
        f"[bold]{found.order.number}[/] at version {found.version} of {found.latest_version} "
        f"(position {found.position}): [bold]{said['status']}[/]; invoice {said['invoice_status']}"
    )
    for line in said["because"]:
        out.print(f"  - {line}")


@replay_app.command("explain")
def explain_cmd(order: OrderArg, as_json: AsJson = False) -> None:
    """Why the order is in its status, what it waits for, the fix, and any escalation."""
    t = _tools()
    try:
        order_id = t.order_id(order)
        said = explanation_out(explain_order(t.store, t.organization_id, order_id), "staff")
        doc = _cs_doc(t, order_id)
    except (NoSuchOrder, NotFound):
        raise _no_order(order) from None
    said["escalations"] = open_on_order(t.store, t.views, t.projections, t.organization_id, order_id)
    original = doc.get("original_order") or {}
    said["kind_label"] = kind_words(
        doc["source_context"], original.get("number"), doc["cycle_number"], "staff"
    )[0]
    if as_json:
        _dump(said)
        return
    out.print(f"[bold]{said['order_number']}[/] — {said['kind_label']} — status [bold]{said['status']}[/]")
    out.print(said["summary"])
    out.print("[bold]Because:[/]")
    for line in said["because"]:
        out.print(f"  - {line}")
    if said["waiting_for"]:
        out.print("[bold]Waiting for:[/]")
    for b in said["waiting_for"]:
        who = "ACTION NEEDED" if b["needs_action"] else "waiting"
        out.print(f"  - [{who}] {b['code']}: {b['reason']}")
        out.print(f"    fix: {b['fix']}")
    for e in said["escalations"]:
        out.print(f"[bold red]ESCALATE {e['code']}[/]: {e['sentence']}")


def _cs_doc(t: Tools, order_id: str) -> dict[str, Any]:
    projection = t.projection("cs_orders")
    catch_up(t.store, t.views, projection)
    doc = cs_document(t.views, t.organization_id, order_id)
    if doc is None:
        order = fold_events("order", order_id, order_stream(t.store, t.organization_id, order_id))
        doc = CsOrdersProjection(t.store).document(order)
    return complete_view(t.store, t.organization_id, order_id, doc)


@replay_app.command("rebuild")
def rebuild_cmd(
    name: Annotated[str, typer.Argument(help="Projection name")],
    page: Annotated[int, typer.Option(help="Events per transaction")] = 5000,
    workers: Annotated[
        int, typer.Option(help="Processes filling a partition-safe projection (PostgreSQL)")
    ] = 2,
) -> None:
    """Fill the projection's next generation from the first event while the live one serves, then swap."""
    t = _tools()
    projection = t.projection(name)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>9,.0f} events/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as bar:
        task = bar.add_task(f"rebuild {name}", total=max(t.store.last_position(), 1), rate=0.0)

        def report(p: rebuilding.Progress) -> None:
            bar.update(
                task,
                completed=p.done,
                total=max(p.total, 1),
                rate=p.rate,
                description=f"rebuild {name} ({p.phase})",
            )

        try:
            result = rebuilding.rebuild(
                t.store, t.views, projection, page=page, report=report, workers=workers
            )
        except rebuilding.NotRebuildable:
            err.print(f"error: {name} has no versioned tables and cannot be rebuilt beside the live one")
            raise typer.Exit(2) from None
    out.print(
        f"{name}: generation {result.generation} ({result.table}) live at position {result.position}; "
        f"{result.events:,} events in {result.seconds:.1f} s ({result.rate:,.0f} events/s)"
    )


@replay_app.command("drift")
def drift_cmd(name: Annotated[str, typer.Argument(help="Projection name")], as_json: AsJson = False) -> None:
    """Compare the live view with a fresh rebuild; exit 1 when they differ."""
    t = _tools()
    try:
        report = rebuilding.drift(t.store, t.views, t.projection(name))
    except rebuilding.NotRebuildable:
        err.print(f"error: {name} has no versioned tables")
        raise typer.Exit(2) from None
    if as_json:
        _dump(report.as_dict())
    else:
        out.print(
            f"{name} at position {report.position}: {report.rows_live} live rows, "
            f"{report.rows_rebuilt} rebuilt" + (" — no drift" if report.clean else " — DRIFT")
        )
        for key in report.missing:
            out.print(f"  missing from live: {key}")
        for key in report.extra:
            out.print(f"  only in live: {key}")
        for c in report.changed:
            out.print(
                f"  {c['key']} {c['column']}: live={str(c['live'])[:80]!r} rebuilt={str(c['rebuilt'])[:80]!r}"
            )
    if not report.clean:
        raise typer.Exit(1)


@replay_app.command("lag")
def lag_cmd(as_json: AsJson = False) -> None:
    """Each projection's position and how far behind the log it is, in events and seconds."""
    t = _tools()
    lags = [lag_of(t.store, t.views, p) for p in t.projections]
    if as_json:
        _dump([lag.as_dict() for lag in lags])
        return
    table = Table(title="Projection lag")
    for col in ("projection", "position", "head", "events behind", "seconds behind"):
        table.add_column(col)
    for lag in lags:
        table.add_row(
            lag.name, str(lag.position), str(lag.head), str(lag.events_behind), f"{lag.seconds_behind:.1f}"
        )
    out.print(table)


@replay_app.command("redrive")
def redrive_cmd(order: OrderArg, as_json: AsJson = False) -> None:
    """Retry an order's failed worker steps (its dead letters) now, without waiting for the backoff."""
    settings, _ = cli_settings()
    runtime = build_runtime(settings)
    try:
        order_id = resolve_order(
            runtime.deps.store, runtime.views, list(runtime.projections), runtime.organization_id, order
        )
        if order_id is None:
            raise _no_order(order)
        results = redrive_order(runtime.policies, order_id)
    finally:
        runtime.shutdown()
    if as_json:
        _dump({"order_id": order_id, "steps": [{"step": s, "recovered": ok} for s, ok in results]})
        return
    if not results:
        out.print(f"{order}: no failed steps to retry")
    for step, ok in results:
        out.print(f"{step}: {'went through' if ok else 'failed again (recorded; retried with backoff)'}")
    if not all(ok for _step, ok in results):
        raise typer.Exit(1)
