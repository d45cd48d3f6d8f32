"""Outbox → relay → BullMQ → worker: a job exists only if its transaction committed, and survives
a Redis outage between commit and relay."""

from __future__ import annotations

import asyncio
from typing import Any

from bullmq import Queue
from pydantic import SecretStr
from redis.asyncio import Redis

from mboa.config import Settings
from mboa.postgres import Database, TenantContext, role_urls, set_tenant
from mboa.scheduler.run import register_schedules
from mboa.worker import TaskContext, enqueue, task
from mboa.worker.relay import OutboxRelay
from mboa.worker.run import run_worker
from tests.helpers import Api

SEEN_KEY = "tests:worker:seen"


@task("tests.record", queue="tests")
async def record(ctx: TaskContext, payload: dict[str, Any]) -> str:
    redis = Redis.from_url(ctx.settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    try:
        await redis.sadd(SEEN_KEY, payload["value"])
    finally:
        await redis.aclose()
    return str(payload["value"])


async def _enqueue_as_tenant(db: Database, merchant_id: str, value: str, *, commit: bool) -> None:
    async with db.app_sessions() as session:
        await set_tenant(session, TenantContext(merchant_id, livemode=False))
        await enqueue(session, "tests.record", {"value": value})
        if commit:
            await session.commit()
        else:
            await session.rollback()


async def _wait_for(redis: Redis, value: str) -> bool:
    deadline = asyncio.get_running_loop().time() + 15
    while asyncio.get_running_loop().time() < deadline:
        if await redis.sismember(SEEN_KEY, value):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_committed_job_runs_rolled_back_job_never_does(
    api: Api, settings: Settings, db: Database, redis: Redis, database_url: str, redis_url: str
) -> None:
    account = await api.signup()
    worker_settings = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(worker_settings, database_url, redis_url, stop=stop))
    try:
        await _enqueue_as_tenant(db, account.merchant_id, "rolled-back", commit=False)
        await _enqueue_as_tenant(db, account.merchant_id, "committed", commit=True)
        assert await _wait_for(redis, "committed")
        await asyncio.sleep(0.5)
        assert not await redis.sismember(SEEN_KEY, "rolled-back")
    finally:
        stop.set()
        await worker


async def test_redis_outage_delays_but_never_loses(
    api: Api,
    settings: Settings,
    db: Database,
    redis: Redis,
    database_url: str,
    redis_url: str,
    owner_connection,  # type: ignore[no-untyped-def]
) -> None:
    account = await api.signup()
    await _enqueue_as_tenant(db, account.merchant_id, "survivor", commit=True)
    _, platform_url = role_urls(settings, database_url)

    down = OutboxRelay(settings, db, "redis://127.0.0.1:1/0", platform_url)
    try:
        assert await down.relay_once() == 0
    finally:
        await down.close()
    row = await owner_connection.fetchrow(
        "SELECT relayed_at, relay_attempts, last_error FROM outbox"
    )
    assert row["relayed_at"] is None
    assert row["relay_attempts"] == 1
    assert row["last_error"]

    up = OutboxRelay(settings, db, redis_url, platform_url)
    try:
        assert await up.relay_once() == 1
        assert await up.relay_once() == 0  # relayed once only
    finally:
        await up.close()
    queue = Queue("tests", {"connection": redis_url, "prefix": settings.worker.queue_prefix})
    try:
        counts = await queue.getJobCounts("waiting", "active", "completed", "delayed")
        assert sum(counts.values()) == 1
    finally:
        await queue.close()


async def test_scheduler_registers_cron_tasks(
    settings: Settings, redis_url: str, redis: Redis
) -> None:
    registered = await register_schedules(settings, redis_url)
    assert "idempotency.prune" in registered
    queue = Queue("maintenance", {"connection": redis_url, "prefix": settings.worker.queue_prefix})
    try:
        schedulers = await queue.getJobSchedulers()
        assert any(
            s.get("key") == "idempotency.prune" or s.get("id") == "idempotency.prune"
            for s in schedulers
        ), schedulers
        # Registering again is an upsert, not a duplicate.
        await register_schedules(settings, redis_url)
        assert await queue.getJobSchedulersCount() == len(schedulers)
    finally:
        await queue.close()
