"""`mboa worker`: one bullmq.Worker per queue, plus the outbox relay."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from typing import Any

import structlog
from bullmq import Worker

from mboa.config import Settings
from mboa.kit.memory import freeze_startup_objects
from mboa.postgres import Database, role_urls
from mboa.providers.registry import ProviderRegistry
from mboa.tasks import load_tasks
from mboa.worker._registry import Task, TaskContext
from mboa.worker.relay import OutboxRelay

log = structlog.get_logger("mboa.worker")


def make_processor(
    tasks: Mapping[str, Task], settings: Settings, db: Database, providers: ProviderRegistry
) -> Any:
    async def process(job: Any, token: str) -> Any:
        definition = tasks.get(job.name)
        if definition is None:
            raise RuntimeError(f"no handler for task {job.name!r}")
        context = TaskContext(
            settings,
            db,
            job_id=job.id,
            attempt=int(job.attemptsMade) + 1,
            providers=providers,
        )
        structlog.contextvars.bind_contextvars(task=job.name, job_id=job.id)
        try:
            return await definition.handler(context, dict(job.data or {}))
        finally:
            structlog.contextvars.unbind_contextvars("task", "job_id")

    return process


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run_worker(
    settings: Settings,
    database_url: str,
    redis_url: str,
    *,
    stop: asyncio.Event | None = None,
    freeze_after_startup: bool = False,
) -> None:
    tasks = load_tasks()
    db = Database.connect(settings, database_url, process="worker")
    providers = ProviderRegistry(settings.providers)
    _, platform_url = role_urls(settings, database_url)
    if stop is None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
    queues = sorted({t.queue for t in tasks.values()})
    processor = make_processor(tasks, settings, db, providers)
    workers = [
        Worker(
            queue,
            processor,
            {
                "connection": redis_url,
                "prefix": settings.worker.queue_prefix,
                "concurrency": settings.worker.concurrency,
                "lockDuration": settings.worker.lock_duration_ms,
                "stalledInterval": settings.worker.stalled_interval_ms,
            },
        )
        for queue in queues
    ]
    relay = OutboxRelay(settings, db, redis_url, platform_url)
    relay_task = asyncio.create_task(relay.run(stop))
    if freeze_after_startup:
        freeze_startup_objects()
    log.info("worker_started", queues=queues)
    try:
        await stop.wait()
    finally:
        log.info("worker_stopping")
        await relay_task
        for worker in workers:
            await worker.close()
        # After the workers: no task is running any more, so no adapter is in use.
        await providers.aclose()
        await db.dispose()
