"""Scheduled ledger jobs: settlement (pending → available) and expiry of pending transfers."""

from __future__ import annotations

from typing import Any

import structlog

from mboa.ledger.service import ledger
from mboa.worker import TaskContext, task

log = structlog.get_logger("mboa.ledger")

BATCH = 500


@task("ledger.settle", queue="ledger", attempts=5, cron="*/5 * * * *")
async def settle(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Move every collection whose settlement delay has passed from pending to available.

    Each batch commits on its own; a crash half-way leaves the rest for the next run, and a
    collection is settled at most once (the database refuses a second settlement)."""
    total = 0
    while True:
        async with ctx.db.platform_transaction() as session:
            settled = await ledger.settle_due(session, limit=BATCH)
        total += settled
        if settled < BATCH:
            break
    log.info("ledger_settled", count=total)
    return total


@task("ledger.expire_pending", queue="ledger", attempts=5, cron="* * * * *")
async def expire_pending(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Void the pending transfers whose expiry has passed (their holds are released)."""
    total = 0
    while True:
        async with ctx.db.platform_transaction() as session:
            expired = await ledger.expire_due(session, limit=BATCH)
        total += expired
        if expired < BATCH:
            break
    log.info("ledger_pending_expired", count=total)
    return total
