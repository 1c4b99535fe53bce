"""What every `ledger` sub-command shares: settings (or a clean exit naming what is wrong)."""

from __future__ import annotations

import typer

from ledger.settings import Settings, SettingsError, load_settings


def cli_settings() -> tuple[Settings, list[str]]:
    """The settings with local defaults filled in, and the names of the values generated for them."""
    try:
        return load_settings().with_local_defaults()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
