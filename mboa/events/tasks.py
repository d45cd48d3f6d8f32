from __future__ import annotations

import datetime as dt
from typing import Any

import structlog

from mboa.events.service import event as event_service
from mboa.kit.time import utc_now
from mboa.worker import TaskContext, task

log = structlog.get_logger("mboa.events")


@task("events.prune", queue="maintenance", attempts=3, cron="41 3 * * *")
async def prune(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Delete events older than the retention (`MBOA_EVENTS__RETENTION_DAYS`, at least 30), one
    batch per transaction so that no lock is held long; a rerun after a crash takes up where
    the last committed batch stopped."""
    settings = ctx.settings.events
    cutoff = utc_now() - dt.timedelta(days=settings.retention_days)
    removed = 0
    while True:
        async with ctx.db.platform_transaction() as session:
            batch = await event_service.prune_batch(
                session, cutoff=cutoff, limit=settings.prune_batch
            )
        removed += batch
        if batch < settings.prune_batch:
            break
    log.info("events_pruned", removed=removed, cutoff=cutoff.isoformat())
    return removed
