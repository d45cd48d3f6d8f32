"""Migrations on a scratch database of the test server: down and up again, and the revisions that
act on what they find (PostgreSQL 13 and 14 open schema `public` to every role)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command

from mboa.dev.runtime import alembic_config, migrate
from mboa.postgres import plain_url, with_database


@pytest.fixture
async def scratch_url(database_url: str) -> AsyncIterator[str]:
    name = f"mboa_migrations_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain_url(with_database(database_url, "postgres")))
    try:
        yield with_database(database_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def scalar(url: str, sql: str) -> object:
    connection = await asyncpg.connect(plain_url(url))
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def test_ledger_revisions_go_down_and_up_again(scratch_url: str) -> None:
    await asyncio.to_thread(migrate, scratch_url)
    config = alembic_config(scratch_url)
    await asyncio.to_thread(command.downgrade, config, "0005_ledger_keys_pg13")
    # Revision 0005's schema: the plain CHECKs, no write_transfer, 0002's function back.
    assert (
        await scalar(
            scratch_url, "SELECT count(*) FROM pg_proc WHERE proname = 'mboa_ledger_transfer'"
        )
        == 2
    )
    assert (
        await scalar(
            scratch_url,
            "SELECT count(*) FROM pg_proc WHERE proname IN ('mboa_ledger_write_transfer',"
            " 'mboa_ledger_account_valid', 'mboa_ledger_transaction_valid')",
        )
        == 0
    )
    await asyncio.to_thread(command.upgrade, config, "head")
    # Every function the writer role owns runs with pg_temp last on its search path.
    assert (
        await scalar(
            scratch_url,
            "SELECT count(*) FILTER (WHERE NOT 'search_path=pg_catalog, public, pg_temp'"
            " = ANY(proconfig)) || '/' || count(*) FROM pg_proc p JOIN pg_roles r"
            " ON r.oid = p.proowner WHERE r.rolname = 'mboa_ledger' AND p.prosecdef",
        )
        == "0/4"
    )


async def test_public_schema_is_closed_where_the_server_left_it_open(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    await asyncio.to_thread(migrate, scratch_url)
    await asyncio.to_thread(command.downgrade, config, "0008_drop_ledger_transfer_0002")
    # As PostgreSQL 13 and 14 create every database.
    connection = await asyncpg.connect(plain_url(scratch_url))
    try:
        await connection.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    finally:
        await connection.close()
    await asyncio.to_thread(command.upgrade, config, "head")
    assert (
        await scalar(scratch_url, "SELECT has_schema_privilege('public', 'public', 'CREATE')")
        is False
    )
