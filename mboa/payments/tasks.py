"""Payment intents in the background: send an attempt, apply a confirmed result, the janitor."""

from __future__ import annotations

from typing import Any

from mboa.payments.service import INITIATE_TASK, SYNC_TASK
from mboa.payments.service import payment_intent as payment_intent_service
from mboa.worker import TaskContext, task

INITIATE_ATTEMPTS = 6


@task(INITIATE_TASK, queue="payments", attempts=INITIATE_ATTEMPTS, backoff_ms=1000)
async def initiate(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """Call the operator for one attempt with the reference stored for it (a retry re-sends
    the same one); record its answer."""
    return await payment_intent_service.initiate(
        ctx.db,
        ctx.providers,
        ctx.settings.base_url,
        str(payload["attempt_id"]),
        settings=ctx.settings.payments,
        final_try=ctx.attempt >= INITIATE_ATTEMPTS,
        retry=ctx.attempt > 1,
    )


@task(SYNC_TASK, queue="payments", attempts=6, backoff_ms=2000)
async def sync_attempt(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """Read one attempt's status at the operator with our reference and apply it: the
    transition, the ledger posting and the event commit together; a repeat changes nothing."""
    return await payment_intent_service.sync_attempt(
        ctx.db, ctx.providers, str(payload["attempt_id"]), settings=ctx.settings.payments
    )


@task("payments.janitor", queue="payments", attempts=3, cron="* * * * *")
async def janitor(ctx: TaskContext, payload: dict[str, Any]) -> list[int]:
    """Cancel intents past `expires_at`; enqueue status reads for attempts pending too long."""
    expired, due = await payment_intent_service.janitor(ctx.db, ctx.settings.payments)
    return [expired, due]
