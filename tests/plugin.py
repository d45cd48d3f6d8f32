"""Test servers: real PostgreSQL and Redis, one database per xdist worker, migrations applied once.

- With `MBOA_TEST_DATABASE_URL` / `MBOA_TEST_REDIS_URL` set, those servers are used (CI runs the
  suite once against this machine's PostgreSQL 15 / Redis 7 that way). A shared Redis serves one
  run at a time: each xdist worker takes a database number and empties it between tests, and
  its stack's workers take any job on its queues. Two runs at once (two checkouts) share the
  PostgreSQL server safely, each with a private Redis: leave `MBOA_TEST_REDIS_URL` unset.
- Otherwise the embedded PostgreSQL of the `test` profile under `.mboa/` is started (or joined, if
  another test run is using it; the last run to finish stops it), and this run gets a private
  embedded Redis.
- Database names carry this run's id, so two runs against one server never touch each other's
  data. The controller migrates a template database once; each xdist worker clones it (`CREATE
  DATABASE … TEMPLATE …`, milliseconds) and uses its own Redis database number.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import psutil
import pytest

TEST_ENV = {
    "MBOA_ENV": "testing",
    "MBOA_LOG__LEVEL": "WARNING",
    "MBOA_AUTH__ARGON2_TIME_COST": "1",
    "MBOA_AUTH__ARGON2_MEMORY_COST_KIB": "1024",
    "MBOA_AUTH__JWT_SECRET": "test-secret-not-for-production-0123456789",
    # base64 of 32 bytes: the key that encrypts webhook signing secrets at rest
    "MBOA_WEBHOOKS__ENCRYPTION_KEY": "dGVzdC1rZXktbm90LWZvci1wcm9kdWN0aW9uLTAxMjM=",
}
DATABASE_PREFIX = "mboa_t"
_embedded = None
_private_redis = None


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def run_id() -> str:
    return os.environ["MBOA_TEST_RUN_ID"]


def database_for(base_url: str, suffix: str) -> str:
    from mboa.postgres import with_database

    return with_database(base_url, f"{DATABASE_PREFIX}_{run_id()}_{suffix}")


async def _admin(url: str):  # type: ignore[no-untyped-def]
    import asyncpg

    from mboa.postgres import plain_url, with_database

    return await asyncpg.connect(plain_url(with_database(url, "postgres")))


async def recreate(url: str, template: str | None = None) -> None:
    from mboa.postgres import database_name

    admin = await _admin(url)
    try:
        name = database_name(url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        suffix = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await admin.close()


async def _drop_stale(url: str, *, only_this_run: bool) -> None:
    """Drop this run's databases, or those of earlier runs whose process is gone."""
    admin = await _admin(url)
    try:
        names = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{DATABASE_PREFIX}\\_%"
        )
        for (name,) in names:
            owner = name.split("_")[2]
            mine = owner == run_id()
            stale = owner.isdigit() and not psutil.pid_exists(int(owner))
            if (only_this_run and mine) or (not only_this_run and stale):
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def pytest_configure(config: pytest.Config) -> None:
    global _embedded, _private_redis
    for key, value in TEST_ENV.items():
        os.environ.setdefault(key, value)
    if _is_worker(config):
        return
    os.environ["MBOA_TEST_RUN_ID"] = str(os.getpid())
    from mboa.dev.servers import EmbeddedRedis, EmbeddedServers
    from mboa.postgres import with_database

    if not os.environ.get("MBOA_TEST_DATABASE_URL"):
        _embedded = EmbeddedServers.for_profile(Path(".mboa"), "test")
        _embedded.acquire(with_redis=False)
        os.environ["MBOA_TEST_DATABASE_URL"] = with_database(_embedded.postgres.url, "postgres")
    if not os.environ.get("MBOA_TEST_REDIS_URL"):
        _private_redis = EmbeddedRedis(Path(".mboa").resolve() / "test" / f"redis-{run_id()}")
        _private_redis.start()
        os.environ["MBOA_TEST_REDIS_URL"] = _private_redis.url
    from alembic import command

    from mboa.dev.runtime import alembic_config

    base = os.environ["MBOA_TEST_DATABASE_URL"]
    asyncio.run(_drop_stale(base, only_this_run=False))
    template = database_for(base, "template")
    asyncio.run(recreate(template))
    command.upgrade(alembic_config(template), "head")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _is_worker(config):
        return
    base = os.environ.get("MBOA_TEST_DATABASE_URL")
    if base and os.environ.get("MBOA_TEST_RUN_ID"):
        asyncio.run(_drop_stale(base, only_this_run=True))
    if _private_redis is not None:
        _private_redis.stop()
        shutil.rmtree(_private_redis.data_dir, ignore_errors=True)
    if _embedded is not None:
        _embedded.release()


def worker_index(config: pytest.Config) -> int:
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else 0
