"""An idle worker picks up a newly relayed job at once, even while its queue holds delayed jobs
(cron iterations, outbox rows with `delay_ms`), which make it block on Redis for the longest
(10 s at a time)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from mboa.config import Settings
from mboa.postgres import Database
from mboa.worker import TaskContext, enqueue, task
from mboa.worker.run import BLOCKING_READ_TIMEOUT_SECONDS, run_worker, worker_redis_url

RAN_AT_KEY = "tests:worker:ran_at"
# Long enough to cover the stretch in which the redis-py client, its 5 s read timeout cut short
# the worker's 10 s BZPOPMIN, was retrying with back-off (2, 4, 8, 16 s) and nobody listened
# for new jobs: the job relayed after this idle time waited 10-14 s.
IDLE_SECONDS = 38.0
# Picked up at once means well under a second; the bug gave 10 s and more.
PICKUP_BOUND_SECONDS = 5.0


@task("tests.stamp", queue="tests")
async def stamp(ctx: TaskContext, payload: dict[str, Any]) -> None:
    redis = Redis.from_url(ctx.settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    try:
        await redis.hset(RAN_AT_KEY, payload["value"], repr(time.time()))
    finally:
        await redis.aclose()


async def _commit(db: Database, value: str, *, delay_ms: int = 0) -> str:
    async with db.platform_transaction() as session:
        return await enqueue(session, "tests.stamp", {"value": value}, delay_ms=delay_ms)


async def _ran_at(redis: Redis, value: str, within: float) -> float | None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        raw = await redis.hget(RAN_AT_KEY, value)
        if raw is not None:
            return float(raw)
        await asyncio.sleep(0.02)
    return None


async def _relayed_at(owner: asyncpg.Connection, job_id: str) -> dt.datetime:
    for _ in range(100):
        relayed_at = await owner.fetchval("SELECT relayed_at FROM outbox WHERE job_id = $1", job_id)
        if relayed_at is not None:
            return relayed_at  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{job_id} was never relayed")


@pytest.mark.slow
async def test_an_idle_worker_runs_a_relayed_job_at_once(
    clean: None,
    settings: Settings,
    db: Database,
    redis: Redis,
    owner_connection: asyncpg.Connection,
    database_url: str,
    redis_url: str,
) -> None:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, database_url, redis_url, stop=stop))
    try:
        # As in production, the queue holds a delayed job: the worker then blocks until it is
        # due, at most 10 s at a time, instead of `drainDelay`.
        await _commit(db, "later", delay_ms=3_600_000)
        await _commit(db, "warm-up")
        assert await _ran_at(redis, "warm-up", within=30) is not None

        await asyncio.sleep(IDLE_SECONDS)  # the worker is idle, blocked on its queue

        job_id = await _commit(db, "after-idle")
        ran_at = await _ran_at(redis, "after-idle", within=60)
        relayed_at = (await _relayed_at(owner_connection, job_id)).timestamp()
        assert ran_at is not None, "the job relayed after the idle time never ran"
        assert ran_at - relayed_at < PICKUP_BOUND_SECONDS, (
            f"relayed at {relayed_at:.2f}, ran {ran_at - relayed_at:.2f} s later"
        )
        assert await redis.hget(RAN_AT_KEY, "later") is None  # still delayed: not run early
    finally:
        stop.set()
        await worker


def test_the_workers_reads_outlast_its_longest_block() -> None:
    assert BLOCKING_READ_TIMEOUT_SECONDS > 10  # bullmq's cap on one BZPOPMIN
    assert worker_redis_url("redis://127.0.0.1:6379/0") == (
        f"redis://127.0.0.1:6379/0?socket_timeout={BLOCKING_READ_TIMEOUT_SECONDS}"
    )
    assert worker_redis_url("unix:///run/redis.sock?db=2&socket_timeout=1") == (
        f"unix:///run/redis.sock?db=2&socket_timeout={BLOCKING_READ_TIMEOUT_SECONDS}"
    )
    assert worker_redis_url("redis://h/0?socket_timeout=60") == "redis://h/0?socket_timeout=60"
