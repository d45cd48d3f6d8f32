"""Moves committed outbox rows to BullMQ."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog
from bullmq import Queue

from mboa.config import Settings
from mboa.kit.cancellation import cancel_and_wait
from mboa.kit.faults import crash_point
from mboa.kit.time import utc_now
from mboa.postgres import Database, plain_url
from mboa.tasks import load_tasks
from mboa.worker import metrics
from mboa.worker._registry import job_options
from mboa.worker.repository import OutboxRepository

log = structlog.get_logger("mboa.outbox")
NOTIFY_CHANNEL = "mboa_outbox"
REDIS_TIMEOUT_SECONDS = 3.0


class OutboxRelay:
    def __init__(self, settings: Settings, db: Database, redis_url: str, platform_url: str) -> None:
        self.settings = settings
        self.db = db
        self.redis_url = redis_url
        self.platform_url = platform_url
        self.queues: dict[str, Queue] = {}
        self.wakeup = asyncio.Event()
        # Rows carry the task's name only: its queue and options come from the registry.
        self.tasks = load_tasks()

    def queue(self, name: str) -> Queue:
        if name not in self.queues:
            self.queues[name] = Queue(
                name, {"connection": self.redis_url, "prefix": self.settings.worker.queue_prefix}
            )
        return self.queues[name]

    async def relay_once(self) -> int:
        """Relay one batch; returns how many rows were relayed."""
        relayed = 0
        async with self.db.platform_transaction() as session:
            repository = OutboxRepository.from_session(session)
            messages = await repository.claim_pending(self.settings.worker.outbox_batch_size)
            done: dict[str, list[int]] = {}
            for message in messages:
                definition = self.tasks.get(message.task)
                if definition is None:
                    await repository.mark_failed(message.id, f"unknown task {message.task!r}")
                    continue
                try:
                    # BullMQ waits for ever for an unreachable Redis; the outbox row is the
                    # durable copy, so give up quickly and retry on the next pass.
                    await asyncio.wait_for(
                        self.queue(definition.queue).add(
                            message.task,
                            message.payload,
                            job_options(
                                definition, job_id=message.job_id, delay_ms=message.delay_ms
                            ),
                        ),
                        REDIS_TIMEOUT_SECONDS,
                    )
                except Exception as exc:  # Redis down: keep the row, try again later
                    await repository.mark_failed(message.id, repr(exc))
                    log.warning("outbox_relay_failed", task=message.task, error=repr(exc))
                    break
                done.setdefault(definition.queue, []).append(message.id)
            if done:
                crash_point("relay_before_mark")  # in BullMQ, the rows not yet marked relayed
            await repository.mark_relayed(done, utc_now())
            relayed = sum(len(ids) for ids in done.values())
        metrics.OUTBOX_RELAYED.inc(relayed)
        return relayed

    async def _listen(self) -> None:
        """Wake the relay as soon as a transaction that wrote to the outbox commits."""
        while True:
            try:
                connection = await asyncpg.connect(plain_url(self.platform_url))
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(1)
                continue

            closed = asyncio.Event()

            def notified(*_: Any) -> None:
                self.wakeup.set()

            try:
                await connection.add_listener(NOTIFY_CHANNEL, notified)
                connection.add_termination_listener(lambda *_, event=closed: event.set())
                await closed.wait()
            finally:
                with contextlib.suppress(Exception):
                    await connection.close()

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen())
        try:
            while not stop.is_set():
                try:
                    count = await self.relay_once()
                except Exception:
                    log.exception("outbox_relay_error")
                    count = 0
                if count >= self.settings.worker.outbox_batch_size:
                    continue
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        _first(self.wakeup, stop), self.settings.worker.outbox_poll_seconds
                    )
        finally:
            await cancel_and_wait(listener)
            await self.close()

    async def close(self) -> None:
        for queue in self.queues.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(queue.close(), REDIS_TIMEOUT_SECONDS)
        self.queues.clear()


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
