"""Migrations on scratch databases of the test server.

No drift: a database migrated from the baseline equals `mboa.models` (tables, columns, types,
indexes, unique and foreign keys, by Alembic's autogenerate comparison) plus the SQL files
(every function, trigger and domain, by the catalogue's own rendering of them, and nothing
else); and each SQL file is what the newest revision that loads it recorded. Then: the baseline
goes down to an empty schema and up again, and closes schema `public` where the server left it
open (PostgreSQL 13 and 14 do).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mboa.dev.runtime import alembic_config, ensure_database, migrate
from mboa.kit.migration import PACKAGE_ROOT, sql_digest, sql_statements, sql_text
from mboa.models import Model
from mboa.postgres import asyncpg_url, plain_url, with_database

# What the catalogue says about every function, trigger and domain of schema `public` (the
# extension-owned ones aside): its full definition as PostgreSQL renders it, owner aside.
CATALOGUE_SQL = """
SELECT 'function ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid)
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text, pg_get_triggerdef(t.oid)
FROM pg_trigger t WHERE NOT t.tgisinternal
UNION ALL
SELECT 'domain ' || t.typname,
       format_type(t.typbasetype, t.typtypmod) || ' ' || t.typnotnull::text || ' '
       || coalesce(t.typdefault, '') || ' '
       || coalesce((SELECT string_agg(c.conname || ' ' || pg_get_constraintdef(c.oid), '; '
                                      ORDER BY c.conname)
                    FROM pg_constraint c WHERE c.contypid = t.oid), '')
FROM pg_type t WHERE t.typtype = 'd' AND t.typnamespace = 'public'::regnamespace
ORDER BY 1
"""


@pytest.fixture
async def scratch(database_url: str) -> AsyncIterator[Callable[[], str]]:
    """Names fresh databases on the test server; drops them afterwards."""
    names: list[str] = []

    def new() -> str:
        names.append(f"mboa_migrations_{uuid.uuid4().hex[:8]}")
        return with_database(database_url, names[-1])

    yield new
    admin = await asyncpg.connect(plain_url(with_database(database_url, "postgres")))
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def scratch_url(scratch: Callable[[], str]) -> str:
    return scratch()


async def scalar(url: str, sql: str) -> Any:
    connection = await asyncpg.connect(plain_url(url))
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def catalogue(url: str) -> dict[str, str]:
    connection = await asyncpg.connect(plain_url(url))
    try:
        return {row[0]: row[1] for row in await connection.fetch(CATALOGUE_SQL)}
    finally:
        await connection.close()


def newest_digests() -> dict[str, str]:
    """Each SQL file's digest as recorded by the newest revision that loads it."""
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    digests: dict[str, str] = {}
    for revision in reversed(list(script.walk_revisions())):  # oldest first
        digests.update(getattr(revision.module, "SQL_FILES", {}))
    return digests


def test_every_sql_file_is_what_its_newest_revision_loaded() -> None:
    """Editing a function, trigger or domain takes a new revision that loads the file again."""
    files = {str(path.relative_to(PACKAGE_ROOT)) for path in PACKAGE_ROOT.glob("*/sql/*.sql")}
    digests = newest_digests()
    assert files == set(digests), "every SQL file is loaded by a revision, and only those"
    changed = sorted(name for name, digest in digests.items() if sql_digest(name) != digest)
    assert not changed, (
        f"{changed} changed since the newest revision that loads them: write a revision that"
        " loads them again and records their new digest (docs/architecture.md, 'Migrations')"
    )


def _model_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Model.metadata))


async def test_baseline_equals_models_and_sql_files(scratch: Callable[[], str]) -> None:
    migrated, built = scratch(), scratch()
    await asyncio.to_thread(migrate, migrated)

    engine = create_async_engine(asyncpg_url(migrated))
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_model_differences) == []
    finally:
        await engine.dispose()

    # The same objects built without the migrations: the domains the tables use, the tables from
    # the models, then every other SQL file.
    await ensure_database(built)
    files = list(newest_digests())
    # Domains and extensions (pg_trgm's operator classes) come before the tables that use them.
    domains = [
        name
        for name in files
        if "CREATE DOMAIN" in sql_text(name) or "CREATE EXTENSION" in sql_text(name)
    ]
    connection = await asyncpg.connect(plain_url(built))
    try:
        for name in domains:
            await connection.execute(sql_text(name))
        engine = create_async_engine(asyncpg_url(built))
        try:
            async with engine.begin() as session:
                await session.run_sync(Model.metadata.create_all)
        finally:
            await engine.dispose()
        for name in files:
            if name not in domains:
                for statement in sql_statements(sql_text(name)):
                    await connection.execute(statement)
    finally:
        await connection.close()

    expected, actual = await catalogue(built), await catalogue(migrated)
    assert sorted(actual) == sorted(expected), "the same functions, triggers and domains"
    assert [name for name in expected if actual[name] != expected[name]] == []


async def test_baseline_goes_down_and_up_again(scratch_url: str) -> None:
    await asyncio.to_thread(migrate, scratch_url)
    config = alembic_config(scratch_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    # Everything the baseline created is gone (Alembic's own version table aside).
    assert await catalogue(scratch_url) == {}
    assert (
        await scalar(
            scratch_url,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relname <> 'alembic_version' AND relname NOT LIKE 'alembic_version%'",
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
        == "0/3"
    )


async def test_public_schema_is_closed_where_the_server_left_it_open(scratch_url: str) -> None:
    await ensure_database(scratch_url)
    # As PostgreSQL 13 and 14 create every database.
    connection = await asyncpg.connect(plain_url(scratch_url))
    try:
        await connection.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    finally:
        await connection.close()
    await asyncio.to_thread(migrate, scratch_url)
    assert (
        await scalar(scratch_url, "SELECT has_schema_privilege('public', 'public', 'CREATE')")
        is False
    )
