from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.worker.repository import OutboxRepository


async def enqueue(
    session: AsyncSession,
    task_name: str,
    payload: dict[str, Any],
    *,
    job_id: str | None = None,
    delay_ms: int = 0,
) -> str:
    """Write a job to the outbox in the caller's transaction; it runs only if that commits.

    Only the task's name is written: the relay finds its queue and options in the task registry
    when it sends the row to BullMQ (so callers need not load any task). `job_id` makes the job
    unique (e.g. `"payments.poll:pi_123:3"`); by default it is random.
    """
    job_id = job_id or f"{task_name}:{uuid.uuid4().hex}"
    await OutboxRepository.from_session(session).insert(
        task=task_name, payload=payload, job_id=job_id, delay_ms=delay_ms
    )
    return job_id


async def enqueue_many(
    session: AsyncSession, task_name: str, jobs: list[tuple[str, dict[str, Any]]]
) -> None:
    """`enqueue` for many jobs of one task in one statement: `(job_id, payload)` each."""
    if jobs:
        await OutboxRepository.from_session(session).insert_many(task=task_name, jobs=jobs)
