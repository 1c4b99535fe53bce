"""`ledger serve | token`: run the API (and its in-process workers), issue local tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from adapters.logging import configure_logging
from api.auth import ROLES, issue_token
from ledger import serving
from ledger.cli.common import cli_settings
from ledger.console_links import console_banner
from ledger.demo import banner, ensure_demo
from ledger.fulfillment import start_demo_vendors

ops_app = typer.Typer()


@ops_app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option(help="Seed demo data into an empty store")] = True,
    processes: Annotated[
        int, typer.Option(min=1, help="API processes sharing the port (PostgreSQL; SQLite serves from one)")
    ] = 1,
    workers: Annotated[
        bool | None,
        typer.Option(help="Also run `ledger worker` (default: on SQLite always, on PostgreSQL when local)"),
    ] = None,
) -> None:
    """Run the API; with its background workers on the embedded store or when LEDGER_ENV=local."""
    settings, generated = cli_settings()
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    if processes > 1 and not settings.is_postgres:
        typer.echo("error: --processes needs PostgreSQL (DATABASE_URL); SQLite serves from one", err=True)
        raise typer.Exit(2)
    if generated:
        typer.echo(
            f"Generated local values for {', '.join(generated)} (kept in {settings.var_dir}/).", err=True
        )
    settings, vendors = start_demo_vendors(settings, host, port)  # Beluga + pharmacy sandboxes (laptop)
    try:
        runtime = serving.build(settings)
        store = "PostgreSQL" if settings.is_postgres else f"SQLite ({settings.store_env()['SQLITE_DBNAME']})"
        typer.echo(f"Event store: {store}, {processes} API process(es)", err=True)
        if demo:
            data = ensure_demo(runtime, settings.organization_id, settings.var_dir)
            if data is not None:
                typer.echo(banner(runtime, data, f"http://{host}:{port}"))
        if vendors is not None:
            typer.echo(vendors.banner())
        typer.echo(console_banner(settings.secret or "", f"http://{host}:{port}", settings.organization_id))
        with_workers = workers if workers is not None else settings.env == "local"
        serving.run(settings, runtime, host=host, port=port, processes=processes, workers=with_workers)
    finally:
        if vendors is not None:
            vendors.stop()


@ops_app.command()
def token(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    subject: Annotated[str | None, typer.Option(help="Patient id or clinic user id")] = None,
    hours: Annotated[int, typer.Option(help="Lifetime in hours")] = 12,
) -> None:
    """Print a bearer token for local use."""
    from datetime import timedelta

    settings, _ = cli_settings()
    try:
        typer.echo(
            issue_token(
                settings.secret or "",
                role=role,
                subject=subject,
                organization_id=settings.organization_id,
                now=datetime.now(UTC),
                ttl=timedelta(hours=hours),
                # People are capped at 24 h by issue_token; services at the deployment's setting.
                max_ttl=timedelta(hours=settings.service_token_max_hours) if role == "service" else None,
            )
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
