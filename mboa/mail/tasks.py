"""Sending e-mails (docs/dashboard.md, "E-mail"): one job per notice, and a sweep for jobs Redis
lost."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mboa.mail.backends import mailer_for
from mboa.mail.service import SEND_TASK, mail
from mboa.worker import TaskContext, task


@task(SEND_TASK, queue="default", attempts=8, backoff_ms=5000)
async def send(ctx: TaskContext, payload: dict[str, Any]) -> str:
    """Send one notice (idempotent: a sent one is not sent again)."""
    return await mail.send(ctx.db, ctx.settings, mailer_for(ctx.settings), payload["id"])


@task("mail.sweep", queue="default", attempts=3, cron="*/5 * * * *")
async def sweep(ctx: TaskContext, payload: dict[str, Any]) -> int:
    """Every five minutes: a new job for each notice unsent after ten minutes."""
    return await mail.sweep(ctx.db, older_than=dt.timedelta(minutes=10))
