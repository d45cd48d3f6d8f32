"""`mboa ledger …`: operator commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mboa.verify_command import Report, run_verify

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from mboa.config import Settings

ledger_app = typer.Typer(no_args_is_help=True, help="Ledger commands.")


# Exit codes, so that monitoring tells a broken ledger from a check that could not run.
EXIT_VIOLATIONS = 1


@ledger_app.command("verify")
def verify_command(
    grace_seconds: Annotated[
        int, typer.Option(min=0, help="How long past its expiry a pending may stay open")
    ] = 900,
) -> None:
    """Check every ledger invariant in SQL: exit 0 if all hold, 1 on any violation, 2 if the
    checks could not run (configuration, database unreachable, SQL error)."""
    from mboa.ledger.verify import verify
    from mboa.ledger.verify_repository import VerifyRepository

    async def check(session: AsyncSession, settings: Settings) -> Report:
        await VerifyRepository.from_session(session).take_snapshot()
        return await verify(
            session,
            roles=[settings.database.app_role, settings.database.platform_role],
            grace_seconds=grace_seconds,
        )

    run_verify("ledger verify", check, failed_exit=EXIT_VIOLATIONS)
