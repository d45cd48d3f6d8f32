"""Background confirmation of inbound operator callbacks (see `mboa.provider_events.service`)."""

from __future__ import annotations

from typing import Any

from mboa.provider_events import service
from mboa.worker import TaskContext, task

ATTEMPTS = 6
"""With 2 s exponential backoff: about a minute of operator trouble before giving up on the read
(the payment poller still finds the outcome, docs/providers-wire.md §5.2)."""


@task(service.CONFIRM_TASK, queue="providers", attempts=ATTEMPTS, backoff_ms=2000)
async def confirm_callback(ctx: TaskContext, payload: dict[str, Any]) -> str | None:
    """Read the operator's status for one stored callback and record it; never trusts the
    callback's own claim and changes no payment (docs/providers-wire.md §1.9)."""
    result = await service.confirm(
        ctx.db, ctx.providers, str(payload["event_id"]), final_try=ctx.attempt >= ATTEMPTS
    )
    return result.value if result else None
