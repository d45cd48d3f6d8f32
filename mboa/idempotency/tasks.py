from __future__ import annotations

import datetime as dt
from typing import Any

import structlog

from mboa.idempotency.repository import IdempotencyKeyRepository
from mboa.kit.time import utc_now
from mboa.worker import TaskContext, task

log = structlog.get_logger("mboa.idempotency")


@task("idempotency.prune", queue="maintenance", attempts=3, cron="17 * * * *")
async def prune(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Drop stored responses older than the retention (at least 24 h)."""
    cutoff = utc_now() - dt.timedelta(hours=ctx.settings.idempotency.retention_hours)
    async with ctx.db.platform_transaction() as session:
        removed = await IdempotencyKeyRepository.from_session(session).prune_older_than(cutoff)
    log.info("idempotency_pruned", removed=removed)
    return removed
