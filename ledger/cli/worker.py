"""`ledger worker`: the background workers in a process of their own (PostgreSQL deployments, failover,
the crash test)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from adapters.logging import configure_logging
from ledger import serving
from ledger.cli.common import cli_settings
from ledger.workers import KINDS, start_workers
from service.policies import run_until_idle

worker_app = typer.Typer()


@worker_app.command()
def worker(
    kind: Annotated[
        list[str] | None,
        typer.Option(help=f"Worker kinds to run (repeatable): {', '.join(KINDS)}; default: all"),
    ] = None,
    until_idle: Annotated[bool, typer.Option(help="Handle the policies' backlog, then exit")] = False,
) -> None:
    """Run the background workers: policies (gate, pharmacy submitter, medical-review auto-submit,
    webhook re-apply), projections, the sealer and, with NATS_URL, the relay. Run two for failover:
    each kind is active in one process at a time (advisory locks), woken by LISTEN/NOTIFY."""
    settings, _ = cli_settings()
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    kinds = tuple(kind or KINDS)
    if unknown := sorted(set(kinds) - set(KINDS)):
        typer.echo(f"error: unknown worker kind {', '.join(unknown)}; one of {', '.join(KINDS)}", err=True)
        raise typer.Exit(2)
    runtime = serving.build(settings)
    try:
        if until_idle:
            handled = run_until_idle(runtime.policies)
            typer.echo(f"handled {handled} notifications", err=True)
            return
        start_workers(runtime, kinds, nats_url=settings.nats_url, nats_replicas=settings.nats_replicas)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
    finally:
        runtime.shutdown()
