"""`ledger worker`: the policy worker on its own (PostgreSQL deployments, and the crash test)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from adapters.logging import configure_logging
from ledger.bootstrap import build_runtime
from ledger.cli import _settings, app
from ledger.fulfillment import start_policy_worker
from service.policies import run_until_idle


@app.command()
def worker(
    until_idle: Annotated[bool, typer.Option(help="Handle what is there, then exit")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between polls when idle")] = 0.5,
) -> None:
    """Run the fulfillment gate, pharmacy submitter, medical-review auto-submit and webhook re-apply."""
    settings, _ = _settings()
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    runtime = build_runtime(settings)
    try:
        if until_idle:
            handled = run_until_idle(runtime.extras["policies"])
            typer.echo(f"handled {handled} notifications", err=True)
            return
        start_policy_worker(runtime, poll_seconds=poll)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
    finally:
        for hook in reversed(runtime.on_shutdown):
            hook()
