"""`mboa ledger …`: operator commands."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from sqlalchemy import text

ledger_app = typer.Typer(no_args_is_help=True, help="Ledger commands.")


@ledger_app.command("verify")
def verify_command(
    grace_seconds: Annotated[
        int, typer.Option(help="How long past its expiry a pending may stay open")
    ] = 900,
) -> None:
    """Check every ledger invariant in SQL; exit 1 on any violation."""
    from mboa.config import ConfigurationError, load_settings
    from mboa.ledger.verify import verify
    from mboa.postgres import Database
    from mboa.runtime import resolve_services

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    services = resolve_services(settings)

    async def run() -> bool:
        db = Database.connect(settings, services.database_url, process="cli")
        try:
            async with db.platform_transaction() as session:
                # One snapshot for every check; no time limit (it reads the whole journal).
                await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                await session.execute(text("SET LOCAL statement_timeout = 0"))
                report = await verify(
                    session,
                    roles=[settings.database.app_role, settings.database.platform_role],
                    grace_seconds=grace_seconds,
                )
        finally:
            await db.dispose()
        typer.echo(report.render())
        return report.ok

    try:
        ok = asyncio.run(run())
    finally:
        services.stop()
    raise typer.Exit(0 if ok else 1)
