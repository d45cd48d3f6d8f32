"""`mboa scheduler`: registers every task that declares `cron=` as a BullMQ job scheduler.

BullMQ workers then produce each next run. Registration is an upsert, so running the scheduler
again (or two of them) is harmless.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog
from bullmq import Queue

from mboa.config import Settings
from mboa.tasks import load_tasks
from mboa.worker._registry import job_options

log = structlog.get_logger("mboa.scheduler")


async def register_schedules(settings: Settings, redis_url: str) -> list[str]:
    tasks = load_tasks()
    registered = []
    queues: dict[str, Queue] = {}
    try:
        for definition in tasks.values():
            if definition.cron is None:
                continue
            queue = queues.setdefault(
                definition.queue,
                Queue(
                    definition.queue,
                    {"connection": redis_url, "prefix": settings.worker.queue_prefix},
                ),
            )
            options = job_options(definition, job_id=definition.name)
            options.pop("jobId")
            options.pop("delay")
            await queue.upsertJobScheduler(
                definition.name, {"pattern": definition.cron}, definition.name, {}, options
            )
            registered.append(definition.name)
    finally:
        for queue in queues.values():
            await queue.close()
    return registered


async def run_scheduler(
    settings: Settings,
    redis_url: str,
    *,
    stop: asyncio.Event | None = None,
    on_registered: Callable[[], None] | None = None,
) -> None:
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    registered = await register_schedules(settings, redis_url)
    log.info("schedules_registered", tasks=registered)
    if on_registered is not None:
        on_registered()
    await stop.wait()
