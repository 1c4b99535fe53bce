"""`ledger relay | verify | export | verify-export | public-key`: streams and tamper evidence."""

from __future__ import annotations

import asyncio
import getpass
import json
import signal
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.chain import BadKey, Signer, Verifier
from adapters.nats_relay import NatsRelay, RelayConfig, RelayUnavailable
from api.error_words import detail_of
from domain.errors import DomainError
from domain.events import Actor
from ledger.bootstrap import build_offline, build_runtime, build_signer, build_store, build_views
from ledger.cli.common import cli_settings, configured_signing_key
from ledger.workers import relay_loop
from replay.order_ref import resolve_order
from replay.verify import verify_store
from replay.verify_export import verify_export
from service import audit
from service.compliance_jobs import perform_export
from service.unit import Context

console = Console(stderr=True)
streams_app = typer.Typer()


def _signer() -> Signer:
    settings, _ = cli_settings()
    return build_signer(settings)


@streams_app.command()
def relay(
    stream: Annotated[str, typer.Option(help="JetStream stream name")] = "LEDGER",
    prefix: Annotated[str, typer.Option(help="Subject prefix")] = "ledger",
    once: Annotated[bool, typer.Option(help="Catch up once and exit")] = False,
) -> None:
    """Relay the event log to NATS JetStream (NATS_URL), resuming from its tracked position."""
    settings, _ = cli_settings()
    if not settings.nats_url:
        console.print("error: NATS_URL is not set")
        raise typer.Exit(2)
    store, views = build_store(settings), build_views(settings)
    config = RelayConfig(url=settings.nats_url, stream=stream, prefix=prefix, replicas=settings.nats_replicas)
    worker = NatsRelay(store, views, config)

    async def check() -> int:
        await worker.connect()
        console.print(f"Relaying from position {worker.position()} to {stream} ({prefix}.>)")
        try:
            return await worker.catch_up() if once else 0
        finally:
            await worker.close()

    try:
        published = asyncio.run(check())
        if once:
            console.print(f"Published {published} events")
            return
        # As `ledger worker --kind relay` runs it: one active relay across processes, woken by NOTIFY.
        running = relay_loop(store, views, config).start()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        running.stop()
    except RelayUnavailable as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    finally:
        views.close()
        store.close()


@streams_app.command()
def verify() -> None:
    """Walk the store beside its hash chain and signed checkpoints; report the first break."""
    settings, _ = cli_settings()
    tools = build_offline(settings)
    try:
        with console.status("Verifying the event log…") as status:
            report = verify_store(
                tools.store,
                tools.views,
                build_signer(settings).verifier,
                progress=lambda n: status.update(f"Verified {n:,} events…"),
            )
    finally:
        tools.close()
    if report.first_break is not None:
        b = report.first_break
        typer.echo(f"BROKEN at position {b.position}: {b.kind} — {b.detail}")
        typer.echo(f"({report.checked:,} events verified before it)")
        raise typer.Exit(1)
    typer.echo(
        f"OK: {report.checked:,} events verified against the chain and {report.checkpoints} signed "
        f"checkpoints; {report.unsealed:,} not sealed yet. Head hash {report.head_hash}"
    )


@streams_app.command("export")
def export_cmd(
    purpose: Annotated[str, typer.Option(help="Why this export is made (recorded)")],
    patient_id: Annotated[str | None, typer.Option(help="Export one patient's records")] = None,
    order_id: Annotated[
        str | None, typer.Option(help="Export one order's records: its id or its number (R-…)")
    ] = None,
    since: Annotated[datetime | None, typer.Option("--from", help="Period start (UTC)")] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="Period end (UTC, exclusive)")] = None,
    actor: Annotated[str | None, typer.Option(help="Who exports (default: your user name)")] = None,
) -> None:
    """Write a signed compliance export (JSON Lines, CSV, manifest); the export itself is recorded."""
    from datetime import UTC

    settings, _ = cli_settings()
    runtime = build_runtime(settings)
    ctx = Context(
        Actor(kind="compliance", id=actor or getpass.getuser()),
        settings.organization_id,
        str(uuid.uuid4()),
        "cli-export",
    )
    since, until = (d.replace(tzinfo=d.tzinfo or UTC) if d else None for d in (since, until))
    if order_id is not None:  # an id or a number (R-…), as CS reads it off the order
        resolved = resolve_order(
            runtime.deps.store, runtime.views, runtime.projections, settings.organization_id, order_id
        )
        if resolved is None:
            typer.echo(f"error: no order {order_id}", err=True)
            raise typer.Exit(1)
        order_id = resolved
    try:
        export = audit.start_export(
            runtime.deps,
            ctx,
            purpose=purpose,
            patient_id=patient_id,
            order_id=order_id,
            period_from=since,
            period_to=until,
        )
        with Progress(
            TextColumn("[bold]Exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("positions"),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("export", total=None)
            done = perform_export(
                runtime.export_jobs(),
                ctx,
                export,
                progress=lambda n: bar.advance(task, n),
                on_total=lambda total: bar.update(task, total=total),
            )
    except DomainError as exc:
        console.print(f"error: {detail_of(exc)}")
        raise typer.Exit(2) from exc
    finally:
        runtime.shutdown()
    if done.status != "completed" or done.completed is None:
        typer.echo(f"Export {done.id} failed: {done.error}")
        raise typer.Exit(1)
    typer.echo(f"Export {done.id}: {done.completed.events:,} events in {done.completed.location}")


@streams_app.command("verify-export")
def verify_export_cmd(
    directory: Annotated[Path, typer.Argument(help="The export's directory")],
    public_key: Annotated[
        str | None,
        typer.Option(help="The ledger's Ed25519 public key (base64), or @file; default: this ledger's"),
    ] = None,
) -> None:
    """Check an export offline: signature, file digests, every record's chain link, counts.

    Without --public-key it uses this ledger's key when one is configured here, and otherwise the
    key the manifest names — saying so, since that proves the files are intact, not who signed
    them. It never generates secrets: a download checked on a laptop leaves nothing behind.
    """
    if not (directory / "manifest.json").exists():
        console.print(f"error: no manifest.json in {directory}")
        raise typer.Exit(2)
    named_by_manifest = False
    try:
        if public_key is not None:
            text = Path(public_key[1:]).read_text() if public_key.startswith("@") else public_key
            verifier = Verifier.from_b64(text)
        elif (configured := configured_signing_key()) is not None:
            verifier = Signer.from_b64(configured).verifier
        else:
            verifier, named_by_manifest = _manifest_key(directory), True
    except BadKey as exc:
        console.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    problems = verify_export(directory, verifier)
    if problems:
        for problem in problems:
            typer.echo(f"FAIL: {problem}")
        raise typer.Exit(1)
    typer.echo(f"OK: {directory} is intact and signed by key {verifier.key_id}")
    if named_by_manifest:
        typer.echo(
            f"That is the key the manifest names ({verifier.public_b64}). No ledger key is configured "
            "here, so compare it with what `ledger public-key` prints on the ledger, or pass it with "
            "--public-key to check the signer too."
        )


def _manifest_key(directory: Path) -> Verifier:
    manifest = json.loads((directory / "manifest.json").read_text())
    named = manifest.get("key", {}).get("public_key") if isinstance(manifest, dict) else None
    if not isinstance(named, str):
        raise BadKey(
            "the manifest names no public key; pass the ledger's with --public-key "
            "(`ledger public-key` on the ledger prints it)"
        )
    return Verifier.from_b64(named)


@streams_app.command("public-key")
def public_key_cmd() -> None:
    """Print the public half of LEDGER_SIGNING_KEY (give it to whoever verifies exports)."""
    typer.echo(_signer().verifier.public_b64)
