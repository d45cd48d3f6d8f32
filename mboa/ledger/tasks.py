"""Scheduled ledger jobs: settlement (pending → available) and expiry of pending transfers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.ledger import metrics
from mboa.ledger.service import ledger
from mboa.ledger.verify import verify
from mboa.ledger.verify_repository import CHECKS, VerifyRepository
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


@task("ledger.settle", queue="ledger", attempts=5, cron="* * * * *")
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


@task("ledger.verify", queue="ledger", attempts=1, cron="17 * * * *")
async def verify_invariants(ctx: TaskContext, payload: dict[str, Any]) -> bool:
    """`mboa ledger verify`, hourly, into metrics: the `LedgerVerifyFailed` alert fires on any
    violation, `LedgerVerifyNotRunning` when it has not finished for hours (docs/deploy.md)."""
    database = ctx.settings.database
    async with ctx.db.platform_transaction() as session:
        await VerifyRepository.from_session(session).take_snapshot()
        report = await verify(session, roles=[database.app_role, database.platform_role])
    for check in CHECKS:
        metrics.VERIFY_VIOLATIONS.labels(check.name).set(0)
    for result in report.results:
        metrics.VERIFY_VIOLATIONS.labels(result.check.name).set(result.violations)
    metrics.VERIFY_OK.set(1 if report.ok else 0)
    metrics.VERIFY_LAST_RUN.set(time.time())
    if not report.ok:
        log.error("ledger_verify_violations", violations=report.violations)
    return report.ok
