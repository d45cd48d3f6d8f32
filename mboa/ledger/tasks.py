"""Scheduled ledger jobs: settlement (pending → available) and expiry of pending transfers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.ledger.service import ledger
from mboa.worker import TaskContext, task

log = structlog.get_logger("mboa.ledger")

BATCH = 500


async def _in_batches(ctx: TaskContext, step: Callable[[AsyncSession], Awaitable[int]]) -> int:
    """Run `step` (at most BATCH rows) in a transaction of its own, until a batch comes back
    short. Returns the rows handled in all."""
    total = 0
    while True:
        async with ctx.db.platform_transaction() as session:
            handled = await step(session)
        total += handled
        if handled < BATCH:
            return total


@task("ledger.settle", queue="ledger", attempts=5, cron="*/5 * * * *")
async def settle(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Move every collection whose settlement delay has passed from pending to available.

    Each batch commits on its own; a crash half-way leaves the rest for the next run, and a
    collection is settled at most once (the database refuses a second settlement). The run walks
    the queue in order (`settle_due`), so a settlement refused (logged, left queued) holds back
    nothing."""
    total = await ledger.settle_due(ctx.db.platform_transaction, limit=BATCH)
    log.info("ledger_settled", count=total)
    return total


@task("ledger.expire_pending", queue="ledger", attempts=5, cron="* * * * *")
async def expire_pending(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Void the pending transfers whose expiry has passed (their holds are released)."""
    total = await _in_batches(ctx, lambda session: ledger.expire_due(session, limit=BATCH))
    log.info("ledger_pending_expired", count=total)
    return total
