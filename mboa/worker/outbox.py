from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.worker._registry import REGISTRY
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

    `job_id` makes the job unique (e.g. `"payments.poll:pi_123:3"`); by default it is random.
    """
    definition = REGISTRY.get(task_name)
    if definition is None:
        # Any process may enqueue (the API never runs tasks): load every domain's tasks once.
        import mboa.tasks  # noqa: F401

        definition = REGISTRY.get(task_name)
    if definition is None:
        raise KeyError(f"unknown task {task_name!r}")
    job_id = job_id or f"{task_name}:{uuid.uuid4().hex}"
    await OutboxRepository.from_session(session).insert(
        task=task_name, queue=definition.queue, payload=payload, job_id=job_id, delay_ms=delay_ms
    )
    return job_id
