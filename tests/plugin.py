"""Test servers: real PostgreSQL and Redis, one database per xdist worker, migrations applied once.

- With `MBOA_TEST_DATABASE_URL` / `MBOA_TEST_REDIS_URL` set, those servers are used (CI runs the
  suite once against this machine's PostgreSQL 15 / Redis 7 that way).
- Otherwise the controller process starts the embedded servers of the `test` profile under `.mboa/`
  and stops them at the end.
- The controller migrates a template database once; each worker clones it (`CREATE DATABASE …
  TEMPLATE …`), which takes milliseconds, and uses its own Redis database number.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

TEST_ENV = {
    "MBOA_ENV": "testing",
    "MBOA_LOG__LEVEL": "WARNING",
    "MBOA_AUTH__ARGON2_TIME_COST": "1",
    "MBOA_AUTH__ARGON2_MEMORY_COST_KIB": "1024",
    "MBOA_AUTH__JWT_SECRET": "test-secret-not-for-production-0123456789",
}
_embedded = None


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _template_url(base: str) -> str:
    from mboa.postgres import database_name, with_database

    return with_database(base, database_name(base) + "_template")


async def _recreate(url: str, template: str | None = None) -> None:
    import asyncpg

    from mboa.postgres import database_name, plain_url, with_database

    name = database_name(url)
    admin = await asyncpg.connect(plain_url(with_database(url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await admin.close()


def pytest_configure(config: pytest.Config) -> None:
    global _embedded
    for key, value in TEST_ENV.items():
        os.environ.setdefault(key, value)
    if _is_worker(config):
        return
    if not os.environ.get("MBOA_TEST_DATABASE_URL") or not os.environ.get("MBOA_TEST_REDIS_URL"):
        from mboa.devservers import EmbeddedServers
        from mboa.postgres import with_database

        _embedded = EmbeddedServers.for_profile(Path(".mboa"), "test")
        _embedded.start()
        os.environ.setdefault(
            "MBOA_TEST_DATABASE_URL", with_database(_embedded.postgres.url, "mboa_test")
        )
        os.environ.setdefault("MBOA_TEST_REDIS_URL", _embedded.redis.url)
    from mboa.runtime import alembic_config

    template = _template_url(os.environ["MBOA_TEST_DATABASE_URL"])
    asyncio.run(_recreate(template))
    from alembic import command

    command.upgrade(alembic_config(template), "head")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded is not None and not _is_worker(config):
        _embedded.stop()


def worker_index(config: pytest.Config) -> int:
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else 0
