"""Refunds in the background: the refund's transfer tasks (`mboa.disbursements` does the work;
the names and the queue stay the refunds' own), and the refund of late successes."""

from __future__ import annotations

from typing import Any

from mboa.disbursements.service import REFUND
from mboa.disbursements.service import disbursement as disbursement_service
from mboa.refunds.service import LATE_SUCCESS_TASK
from mboa.refunds.service import refund as refund_service
from mboa.worker import TaskContext, task

SEND_ATTEMPTS = 6


@task(REFUND.send_task, queue="refunds", attempts=SEND_ATTEMPTS, backoff_ms=1000)
async def send(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """Send one transfer to the payer with the reference stored for it (a retry re-sends the
    same one); record the operator's answer."""
    return await disbursement_service.send(
        ctx.db,
        ctx.providers,
        ctx.settings.base_url,
        str(payload["disbursement_id"]),
        owner=refund_service,
        settings=ctx.settings.refunds,
        final_try=ctx.attempt >= SEND_ATTEMPTS,
    )


@task(REFUND.sync_task, queue="refunds", attempts=6, backoff_ms=2000)
async def sync_disbursement(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """Read one transfer's status at the operator with our reference and apply it: the
    transition, the ledger posting and the event commit together; a repeat changes nothing."""
    return await refund_service.sync(
        ctx.db,
        ctx.providers,
        str(payload["disbursement_id"]),
        settings=ctx.settings.refunds,
        recheck=bool(payload.get("recheck")),
    )


@task("refunds.check_pending", queue="refunds", attempts=3, cron="* * * * *")
async def check_pending(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Enqueue status reads for transfers still pending past their check time."""
    return await refund_service.due(ctx.db, ctx.settings.refunds)


@task(LATE_SUCCESS_TASK, queue="refunds", attempts=6, backoff_ms=2000)
async def refund_late_success(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """Refund a success that arrived after its intent was canceled (docs/payments.md)."""
    return await refund_service.refund_late_success(ctx.db, str(payload["payment_intent"]))
