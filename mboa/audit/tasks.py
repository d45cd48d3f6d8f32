"""The audit chain, checked hourly (docs/audit.md, "mboa audit verify")."""

from __future__ import annotations

import time
from typing import Any

import structlog

from mboa.audit import metrics
from mboa.audit.service import audit
from mboa.worker import TaskContext, task

log = structlog.get_logger("mboa.audit")


@task("audit.verify", queue="maintenance", attempts=1, cron="29 * * * *")
async def verify_chain(ctx: TaskContext, payload: dict[str, Any]) -> bool:
    """`mboa audit verify`, hourly, into metrics (`mboa_audit_chain_ok`): an alert on 0 means a
    row of the audit log was altered or removed."""
    async with ctx.db.platform_transaction() as session:
        report = await audit.verify(session)
    metrics.CHAIN_OK.set(1 if report.ok else 0)
    metrics.CHAIN_ROWS.set(report.rows)
    metrics.VERIFY_LAST_RUN.set(time.time())
    if not report.ok:
        log.error(
            "audit_chain_broken",
            row=report.broken_id,
            seq=report.broken_seq,
            reason=report.reason,
        )
    return report.ok
