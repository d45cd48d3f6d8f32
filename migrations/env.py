"""Alembic environment: runs migrations as the owner role over asyncpg.

`mboa db upgrade` (and `make run` / the test fixtures) pass the owner URL in
`config.attributes["url"]`; plain `alembic upgrade head` falls back to `MBOA_DATABASE_URL`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mboa.config import get_settings
from mboa.models import Model
from mboa.postgres import asyncpg_url

config = context.config
target_metadata = Model.metadata


def _owner_url() -> str:
    url = config.attributes.get("url")
    if url:
        return str(url)
    settings = get_settings()
    if settings.database_url is None:
        raise SystemExit(
            "MBOA_DATABASE_URL is not set; use `mboa db upgrade` for the embedded database"
        )
    return settings.database_url.get_secret_value()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(asyncpg_url(_owner_url()))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported")
connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_async())
