from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from mboa.config import Settings
from mboa.ledger.verify import VerifyReport, verify
from mboa.postgres import Database
from mboa.state import AppState


@pytest.fixture
async def ledger_db(
    clean: None, db: Database, owner_connection: asyncpg.Connection
) -> AsyncIterator[Database]:
    """Empty ledger (the `clean` fixture truncates it); merchant fee plans removed too, and the
    default plans back to what the migration seeds (2 %, T+1)."""
    await owner_connection.execute("DELETE FROM ledger_fee_plans WHERE merchant_id IS NOT NULL")
    await owner_connection.execute(
        "UPDATE ledger_fee_plans SET percent_bps = 200, fixed_amount = 0,"
        " settlement_delay_seconds = 86400 WHERE merchant_id IS NULL"
    )
    return db


@pytest.fixture(scope="package", autouse=True)
async def verify_after_ledger_tests(app_state: AppState, settings: Settings) -> AsyncIterator[None]:
    """`ledger verify` over whatever the ledger tests left in this worker's database."""
    yield
    report = await run_verify(app_state.db, settings)
    assert report.ok, report.render()


async def run_verify(db: Database, settings: Settings, *, grace_seconds: int = 900) -> VerifyReport:
    async with db.platform_transaction() as session:
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        return await verify(
            session,
            roles=[settings.database.app_role, settings.database.platform_role],
            grace_seconds=grace_seconds,
        )


async def assert_verified(db: Database, settings: Settings) -> None:
    report = await run_verify(db, settings)
    assert report.ok, report.render()
