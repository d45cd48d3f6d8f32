"""Checkout sessions in the background: the janitor expires open sessions past their expiry."""

from __future__ import annotations

from typing import Any

from mboa.checkout.service import checkout_session as checkout_session_service
from mboa.worker import TaskContext, task


@task("checkout.janitor", queue="payments", attempts=3, cron="* * * * *")
async def janitor(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Expire open sessions past `expires_at` (event `checkout.session.expired`)."""
    return await checkout_session_service.janitor(ctx.db)
