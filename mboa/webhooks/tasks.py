"""The delivery pipeline (docs/webhooks.md): the fan-out job the `events` trigger writes, one job
per attempt, and a sweep for jobs Redis lost. All on the `webhooks` queue, so that a backlog of
deliveries never delays payments."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import structlog

from mboa.kit.faults import crash_point
from mboa.kit.time import utc_now
from mboa.webhooks.crypto import secret_box
from mboa.webhooks.sender import sender_for
from mboa.webhooks.service import DELIVER_TASK, Busy, webhook_delivery
from mboa.worker import Defer, TaskContext, task

log = structlog.get_logger("mboa.webhooks")
QUEUE = "webhooks"


@task("webhooks.fan_out", queue=QUEUE, attempts=10, backoff_ms=1000)
async def fan_out(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Deliveries for new events (written by the trigger in mboa/webhooks/sql/fan_out.sql)."""
    async with ctx.db.platform_transaction() as session:
        return await webhook_delivery.fan_out(session, payload["event_ids"], now=utc_now())


@task(DELIVER_TASK, queue=QUEUE, attempts=10, backoff_ms=2000)
async def deliver(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """One attempt of one delivery. A failure of the merchant's endpoint is recorded, not raised
    (its retry is a new job, scheduled through the outbox); an exception here is ours (the
    database), and BullMQ retries the job."""
    settings = ctx.settings.webhooks
    sender = await sender_for(ctx.settings)
    delivery_id, endpoint_id = payload["delivery_id"], payload["endpoint_id"]
    token = await sender.acquire(endpoint_id)
    if token is None:  # the endpoint is at its cap: let other endpoints' jobs run meanwhile
        busy = settings.busy_retry_ms
        raise Defer(busy // 2 + random.randrange(busy))
    try:
        now = utc_now()
        # The lease is one statement, and so is a success's record: each commits by itself
        # (one round trip instead of BEGIN, statement, COMMIT). A failure's record writes
        # several rows (the log, the endpoint's health, the retry's outbox job) in one
        # transaction. docs/benchmarks.md §Webhooks measured the difference.
        async with ctx.db.platform_statements() as session:
            claimed = await webhook_delivery.claim(
                session,
                delivery_id,
                box=secret_box(ctx.settings),
                lease=dt.timedelta(milliseconds=sender.lease_ms),
                resend=payload.get("trigger") == "resend",
                now=now,
            )
        if claimed is None:
            return "nothing to do"
        if isinstance(claimed, Busy):  # another attempt runs (or died and its lease must lapse)
            wait = (claimed.until - now).total_seconds()
            raise Defer(max(100, int(wait * 1000)))
        result = await sender.post(
            claimed.url, livemode=claimed.livemode, headers=claimed.headers, body=claimed.body
        )
        crash_point("webhook_after_send")
        record = ctx.db.platform_statements if result.succeeded else ctx.db.platform_transaction
        async with record() as session:
            await webhook_delivery.record(
                session, claimed, result, settings=settings, now=utc_now()
            )
        return "succeeded" if result.succeeded else "failed"
    finally:
        await sender.release(endpoint_id, token)


@task("webhooks.sweep", queue=QUEUE, attempts=3, cron="* * * * *")
async def sweep(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Every minute: a new job for each delivery whose job was lost."""
    async with ctx.db.platform_transaction() as session:
        swept = await webhook_delivery.sweep(session, settings=ctx.settings.webhooks, now=utc_now())
    if swept:
        log.warning("webhook_deliveries_swept", count=swept)
    return swept
