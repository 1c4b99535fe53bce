"""What every `ledger` sub-command shares: settings (or a clean exit naming what is wrong)."""

from __future__ import annotations

import json

import typer

from ledger.settings import Settings, SettingsError, load_settings


def configured_signing_key() -> str | None:
    """This ledger's signing key if one is configured here (environment or kept local secrets),
    found without generating anything."""
    try:
        settings = load_settings()
    except SettingsError:
        return None
    if settings.signing_key:
        return settings.signing_key
    kept = settings.var_dir / "local-secrets.json"
    if kept.exists():
        value = json.loads(kept.read_text()).get("LEDGER_SIGNING_KEY")
        return value if isinstance(value, str) else None
    return None


def cli_settings() -> tuple[Settings, list[str]]:
    """The settings with local defaults filled in, and the names of the values generated for them."""
    try:
        return load_settings().with_local_defaults()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
