"""The shape of a `verify` command (`mboa ledger verify`, `mboa audit verify`): one check in a
platform transaction, its report printed, and an exit code monitoring can read: 0 it holds,
`failed_exit` it does not, `EXIT_COULD_NOT_RUN` (2) if it could not run (configuration,
database unreachable, SQL error)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import asyncpg
import typer
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from mboa.config import Settings

EXIT_COULD_NOT_RUN = 2


class Report(Protocol):
    @property
    def ok(self) -> bool: ...

    def render(self) -> str: ...


def run_verify(
    name: str,
    check: Callable[[AsyncSession, Settings], Awaitable[Report]],
    *,
    failed_exit: int,
) -> None:
    """Run `check`; always ends with `typer.Exit`."""
    from mboa.config import ConfigurationError, load_settings
    from mboa.dev.runtime import resolve_services
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
                report = await check(session, settings)
        finally:
            await db.dispose()
        typer.echo(report.render())
        return report.ok

    try:
        ok = asyncio.run(run())
    except (OSError, SQLAlchemyError, asyncpg.PostgresError) as exc:
        typer.echo(f"{name} could not run: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(EXIT_COULD_NOT_RUN) from None
    finally:
        services.stop()
    raise typer.Exit(0 if ok else failed_exit)
