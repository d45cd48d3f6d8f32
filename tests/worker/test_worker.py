"""Outbox → relay → BullMQ → worker: a job exists only if its transaction committed, and survives
a Redis outage between commit and relay."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bullmq import Queue
from pydantic import SecretStr
from redis.asyncio import Redis

import mboa
from mboa.config import Settings
from mboa.postgres import Database, TenantContext, role_urls, set_tenant
from mboa.providers import PaymentProvider, ProviderName
from mboa.scheduler.run import register_schedules
from mboa.tasks import TASK_MODULES
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


ADAPTERS: list[PaymentProvider] = []


@task("tests.use_an_adapter", queue="tests")
async def use_an_adapter(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Keeps the adapter the worker's registry hands out (building it opens its HTTP pool)."""
    ADAPTERS.append(ctx.providers.get(ProviderName.mtn_momo))


async def _enqueue_as_tenant(
    db: Database, merchant_id: str, value: str, *, commit: bool, task_name: str = "tests.record"
) -> None:
    async with db.app_sessions() as session:
        await set_tenant(session, TenantContext(merchant_id, livemode=False))
        await enqueue(session, task_name, {"value": value})
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
        "SELECT queue, relayed_at, relay_attempts, last_error FROM outbox"
    )
    assert row["queue"] == ""  # resolved by the relay, not by `enqueue`
    assert row["relayed_at"] is None
    assert row["relay_attempts"] == 1
    assert row["last_error"]

    up = OutboxRelay(settings, db, redis_url, platform_url)
    try:
        assert await up.relay_once() == 1
        assert await up.relay_once() == 0  # relayed once only
    finally:
        await up.close()
    # The row named the task only; the relay found its queue and records where it sent it.
    assert await owner_connection.fetchval("SELECT queue FROM outbox") == "tests"
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


def _is_closed(adapter: PaymentProvider) -> bool:
    http = adapter.client.http.client  # type: ignore[attr-defined]
    return bool(http.is_closed)


async def test_the_worker_closes_its_adapters_when_it_stops(
    api: Api, settings: Settings, db: Database, database_url: str, redis_url: str
) -> None:
    account = await api.signup()
    ADAPTERS.clear()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, database_url, redis_url, stop=stop))
    try:
        await _enqueue_as_tenant(
            db, account.merchant_id, "pool", commit=True, task_name="tests.use_an_adapter"
        )
        for _ in range(300):
            if ADAPTERS:
                break
            await asyncio.sleep(0.05)
        (adapter,) = ADAPTERS
        assert not _is_closed(adapter)  # open while the worker runs
    finally:
        stop.set()
        await worker
    assert _is_closed(adapter)


def test_api_routes_register_no_task() -> None:
    """Tasks register where processes load them (`mboa.tasks.load_tasks`), not as a side effect
    of importing the routes that enqueue them."""
    script = "import mboa.app, mboa.api\nfrom mboa.worker import REGISTRY\nprint(sorted(REGISTRY))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_every_task_module_is_loaded_at_start() -> None:
    root = Path(mboa.__file__).parent
    declaring = {
        ".".join(("mboa", *path.relative_to(root).with_suffix("").parts))
        for path in root.rglob("*.py")
        if re.search(r"^@task\(", path.read_text(), re.MULTILINE)
    }
    assert declaring == set(TASK_MODULES)
