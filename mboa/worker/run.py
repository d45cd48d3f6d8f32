"""`mboa worker`: one bullmq.Worker per queue, plus the outbox relay."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import structlog
from bullmq import Queue, Worker
from bullmq.custom_errors import DelayedError
from bullmq.worker import default_maximum_block_timeout
from pydantic import SecretStr
from redis.asyncio import Redis

from mboa.config import Settings
from mboa.kit.memory import freeze_startup_objects
from mboa.kit.time import utc_now
from mboa.metrics import POOLS
from mboa.postgres import Database, role_urls
from mboa.providers import breaker_board
from mboa.providers.registry import ProviderRegistry
from mboa.sentry import report_exception
from mboa.tasks import load_tasks
from mboa.worker import metrics
from mboa.worker._registry import Defer, Task, TaskContext
from mboa.worker.relay import OutboxRelay
from mboa.worker.repository import OutboxRepository

log = structlog.get_logger("mboa.worker")

# A bullmq Worker waits for jobs with BZPOPMIN on its queue's marker, blocking up to 10 s while the
# queue holds delayed jobs (cron iterations, outbox rows with `delay_ms`): bullmq 3.4.4
# bullmq/worker.py L28 and L397-411 (getBlockTimeout). It opens its connections without a
# socket timeout (bullmq/redis_connection.py L93-112), so redis-py 8's default applies: 5 s
# (redis/_defaults.py L7, was None before 8.0). The read then timed out before Redis answered;
# redis-py dropped the connection and re-sent BZPOPMIN after the back-off of bullmq's Retry
# (2, 4, 8, 16, 20 s), and a job added meanwhile had nobody listening: the first job after an
# idle spell ran 10-16 s late. The Worker's reads must outlast its longest block, plus latency.
BLOCKING_READ_TIMEOUT_SECONDS: float = default_maximum_block_timeout + 5


def worker_redis_url(redis_url: str) -> str:
    """`redis_url` with a read timeout that lets the Worker's BZPOPMIN return by itself."""
    address, _, query_string = redis_url.partition("?")
    query = dict(parse_qsl(query_string))
    if float(query.get("socket_timeout") or 0) < BLOCKING_READ_TIMEOUT_SECONDS:
        query["socket_timeout"] = str(BLOCKING_READ_TIMEOUT_SECONDS)
    return f"{address}?{urlencode(query)}"


def make_processor(
    tasks: Mapping[str, Task], settings: Settings, db: Database, providers: ProviderRegistry
) -> Any:
    async def process(job: Any, token: str) -> Any:
        definition = tasks.get(job.name)
        if definition is None:
            raise RuntimeError(f"no handler for task {job.name!r}")
        queue = definition.queue
        started = time.time()
        if int(job.attemptsMade) == 0 and job.timestamp:
            # A retry's wait includes its backoff: only first runs measure the queue.
            due_ms = int(job.timestamp) + int(job.delay or 0)
            metrics.JOB_WAIT.labels(queue).observe(max(started - due_ms / 1000, 0.0))
        outcome = "failed"
        context = TaskContext(
            settings,
            db,
            job_id=job.id,
            attempt=int(job.attemptsMade) + 1,
            providers=providers,
        )
        structlog.contextvars.bind_contextvars(task=job.name, job_id=job.id)
        try:
            result = await definition.handler(context, dict(job.data or {}))
            outcome = "completed"
            return result
        except Defer as deferred:
            outcome = "deferred"
            await job.moveToDelayed(int(time.time() * 1000) + deferred.delay_ms, token)
            raise DelayedError() from None
        except Exception as exc:
            report_exception(exc, task=job.name, queue=queue)
            raise
        finally:
            metrics.JOBS.labels(queue, job.name, outcome).inc()
            metrics.JOB_DURATION.labels(queue).observe(time.time() - started)
            structlog.contextvars.unbind_contextvars("task", "job_id")

    return process


SAMPLE_SECONDS = 5.0
QUEUE_STATES = ("waiting", "active", "delayed", "failed")


class Sampler:
    """Every few seconds: queue depths from Redis, the outbox's backlog from PostgreSQL, and
    this process's operator breakers published for the console (`providers.breaker_board`). A
    round that reached both is the worker's heartbeat, which `/readyz` reads."""

    def __init__(self, settings: Settings, db: Database, redis_url: str, queues: list[str]):
        self.db = db
        self.prefix = settings.worker.queue_prefix
        self.redis = Redis.from_url(redis_url)
        self.queues = [
            Queue(q, {"connection": redis_url, "prefix": settings.worker.queue_prefix})
            for q in queues
        ]
        self.last_ok = 0.0

    def ready(self) -> bool:
        return time.monotonic() - self.last_ok < 3 * SAMPLE_SECONDS + 5

    async def sample(self) -> None:
        for queue in self.queues:
            counts = await asyncio.wait_for(queue.getJobCounts(*QUEUE_STATES), SAMPLE_SECONDS)
            for state in QUEUE_STATES:
                metrics.QUEUE_JOBS.labels(queue.name, state).set(int(counts.get(state, 0)))
            metrics.QUEUE_WAITING.labels(queue.name).set(int(counts.get("waiting", 0)))
        async with self.db.platform_transaction() as session:
            pending, oldest = await OutboxRepository.from_session(session).pending_stats()
        metrics.OUTBOX_PENDING.set(pending)
        lag = (utc_now() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.OUTBOX_LAG.set(max(lag, 0.0))
        await breaker_board.publish(self.redis, self.prefix)
        self.last_ok = time.monotonic()
        metrics.WORKER_HEARTBEAT.set(time.time())

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sample()
            except Exception as exc:  # Redis or PostgreSQL away: not ready, keep trying
                log.warning("worker_sample_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        for queue in self.queues:
            with contextlib.suppress(Exception):
                await queue.close()


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
    health: Callable[[Sampler], None] | None = None,
) -> None:
    tasks = load_tasks()
    if settings.redis_url is None:  # embedded Redis: handlers find it in their settings
        settings = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
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
                "connection": worker_redis_url(redis_url),
                "prefix": settings.worker.queue_prefix,
                "concurrency": settings.worker.queue_concurrency.get(
                    queue, settings.worker.concurrency
                ),
                "lockDuration": settings.worker.lock_duration_ms,
                "stalledInterval": settings.worker.stalled_interval_ms,
            },
        )
        for queue in queues
    ]
    relay = OutboxRelay(settings, db, redis_url, platform_url)
    relay_task = asyncio.create_task(relay.run(stop))
    sampler = Sampler(settings, db, redis_url, queues)
    sampler_task = asyncio.create_task(sampler.run(stop))
    if health is not None:
        health(sampler)
    POOLS.engines["worker_platform"] = db.platform
    if freeze_after_startup:
        freeze_startup_objects()
    log.info("worker_started", queues=queues)
    try:
        await stop.wait()
    finally:
        log.info("worker_stopping")
        await relay_task
        await sampler_task
        await sampler.close()
        await _close_workers(workers, settings.worker.shutdown_grace_seconds)
        # After the workers: no task is running any more, so no adapter is in use.
        await providers.aclose()
        from mboa.webhooks.sender import close_sender  # the deliveries' HTTP and Redis pools

        await close_sender()
        POOLS.engines.pop("worker_platform", None)
        await db.dispose()


async def _close_workers(workers: list[Worker], grace_seconds: float) -> None:
    """Take no new job; let running ones finish within the grace period (all queues at once).
    Past it, the running jobs are cancelled: an unfinished job is not lost, it goes back to its
    queue as a failed attempt (retried with backoff) or, if this process dies first, when its
    lock lapses (`lock_duration_ms`) and another worker's stalled-jobs check takes it up."""
    closing = [asyncio.ensure_future(worker.close()) for worker in workers]
    _, pending = await asyncio.wait(closing, timeout=grace_seconds)
    if pending:
        log.warning("worker_jobs_unfinished_at_shutdown", grace_seconds=grace_seconds)
        # `close()` shields its wait for running jobs: cancel the jobs themselves, and the
        # closes then complete.
        for worker in workers:
            worker.cancelProcessing()
    await asyncio.gather(*closing, return_exceptions=True)
