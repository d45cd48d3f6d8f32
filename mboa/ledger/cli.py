"""`mboa ledger …`: operator commands."""

from __future__ import annotations

import asyncio
from typing import Annotated

import asyncpg
import typer
from sqlalchemy.exc import SQLAlchemyError

ledger_app = typer.Typer(no_args_is_help=True, help="Ledger commands.")


# Exit codes, so that monitoring tells a broken ledger from a check that could not run.
EXIT_VIOLATIONS = 1
EXIT_COULD_NOT_RUN = 2


@ledger_app.command("verify")
def verify_command(
    grace_seconds: Annotated[
        int, typer.Option(min=0, help="How long past its expiry a pending may stay open")
    ] = 900,
) -> None:
    """Check every ledger invariant in SQL: exit 0 if all hold, 1 on any violation, 2 if the
    checks could not run (configuration, database unreachable, SQL error)."""
    from mboa.config import ConfigurationError, load_settings
    from mboa.dev.runtime import resolve_services
    from mboa.ledger.verify import verify
    from mboa.ledger.verify_repository import VerifyRepository
    from mboa.postgres import Database

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_COULD_NOT_RUN) from None
    services = resolve_services(settings)

    async def run() -> bool:
        db = Database.connect(settings, services.database_url, process="cli")
        try:
            async with db.platform_transaction() as session:
                await VerifyRepository.from_session(session).take_snapshot()
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
    except (OSError, SQLAlchemyError, asyncpg.PostgresError) as exc:
        typer.echo(f"ledger verify could not run: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(EXIT_COULD_NOT_RUN) from None
    finally:
        services.stop()
    raise typer.Exit(0 if ok else EXIT_VIOLATIONS)
