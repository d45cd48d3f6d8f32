"""`mboa audit …`: operator commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mboa.verify_command import EXIT_COULD_NOT_RUN, Report, run_verify

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from mboa.config import Settings

audit_app = typer.Typer(no_args_is_help=True, help="Audit log commands.")

# Exit codes, so that monitoring tells a tampered log from a check that could not run.
EXIT_TAMPERED = 1
__all__ = ["EXIT_COULD_NOT_RUN", "EXIT_TAMPERED", "audit_app"]


@audit_app.command("verify")
def verify_command() -> None:
    """Walk the audit log's hash chain: exit 0 if every row links to the one before and hashes
    to its stored hash, 1 naming the first row that does not, 2 if the walk could not run."""
    from mboa.audit.service import audit

    async def check(session: AsyncSession, settings: Settings) -> Report:
        return await audit.verify(session)

    run_verify("audit verify", check, failed_exit=EXIT_TAMPERED)
