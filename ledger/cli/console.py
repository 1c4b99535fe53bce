"""`ledger console-link`: a one-time sign-in URL for the operator console (and the serve banner's)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.console.session import LINK_MINUTES
from ledger.cli.common import cli_settings
from ledger.console_links import sign_in_url

console_app = typer.Typer()


@console_app.command("console-link")
def console_link(
    role: Annotated[str, typer.Option(help="cs, ops, staff, compliance (or clinic/patient with --subject)")],
    subject: Annotated[str | None, typer.Option(help="Clinic user id or patient id")] = None,
    minutes: Annotated[int, typer.Option(help="How long the link may wait to be opened")] = LINK_MINUTES,
    url: Annotated[str, typer.Option(help="The console's base URL")] = "http://127.0.0.1:8000",
) -> None:
    """Print a one-time sign-in URL for the console (the last word of the output)."""
    settings, _ = cli_settings()
    try:
        link = sign_in_url(
            settings.secret or "",
            url,
            role=role,
            subject=subject,
            organization_id=settings.organization_id,
            minutes=minutes,
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"Open this once, within {minutes} minutes, to sign in to the console as {role}:\n{link}")
