"""The `ledger` command (entry point `ledger.cli:app`): one typer app assembled from sub-apps.

Each sub-app lives in its own module and imports only `ledger.cli.common` and the bootstrap, never
this package, so there is no import circle: `ops` (serve, token), `worker`, `streams` (relay, verify,
export, verify-export, public-key), `console` (console-link) and `replay` (the `ledger replay …` group).
"""

from __future__ import annotations

import sys

import typer

from ledger.cli.console import console_app
from ledger.cli.ops import ops_app
from ledger.cli.replay import replay_app
from ledger.cli.streams import streams_app
from ledger.cli.worker import worker_app

app = typer.Typer(
    help="Refill Ledger: an event-sourced order ledger for telehealth refills.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(ops_app)  # nameless: its commands sit at the top level
app.add_typer(worker_app)
app.add_typer(streams_app)
app.add_typer(console_app)
app.add_typer(replay_app, name="replay")


def main() -> None:  # pragma: no cover - console entry point
    app(sys.argv[1:])


__all__ = ["app", "main"]
