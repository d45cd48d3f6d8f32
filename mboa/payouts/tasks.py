"""Payouts in the background: the payout's transfer tasks (`mboa.disbursements` does the work;
the names and the queue stay the payouts' own)."""

from __future__ import annotations

from typing import Any

from mboa.disbursements.service import PAYOUT
from mboa.disbursements.service import disbursement as disbursement_service
from mboa.payouts.service import payout as payout_service
from mboa.worker import TaskContext, task

SEND_ATTEMPTS = 6


@task(PAYOUT.send_task, queue="payouts", attempts=SEND_ATTEMPTS, backoff_ms=1000)
async def send(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """Check the wallet and send one transfer with the reference stored for it (a retry
    re-sends the same one); record the operator's answer."""
    return await disbursement_service.send(
        ctx.db,
        ctx.providers,
        ctx.settings.base_url,
        str(payload["disbursement_id"]),
        owner=payout_service,
        settings=ctx.settings.payouts,
        final_try=ctx.attempt >= SEND_ATTEMPTS,
    )


@task(PAYOUT.sync_task, queue="payouts", attempts=6, backoff_ms=2000)
async def sync_disbursement(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """Read one transfer's status at the operator with our reference and apply it: the
    transition, the ledger posting and the event commit together; a repeat changes nothing."""
    return await payout_service.sync(
        ctx.db,
        ctx.providers,
        str(payload["disbursement_id"]),
        settings=ctx.settings.payouts,
        recheck=bool(payload.get("recheck")),
    )


@task("payouts.check_in_transit", queue="payouts", attempts=3, cron="* * * * *")
async def check_in_transit(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Enqueue status reads for transfers still in transit past their check time."""
    return await payout_service.due(ctx.db, ctx.settings.payouts)
