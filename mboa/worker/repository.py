from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, select, update

from mboa.kit.repository import RepositoryBase
from mboa.models import OutboxMessage

UNRESOLVED_QUEUE = ""
"""`outbox.queue` of a row not relayed yet: the relay resolves the queue from the task registry
and records the one it sent the row to (`mark_relayed`)."""


class OutboxRepository(RepositoryBase[OutboxMessage]):
    model = OutboxMessage

    async def insert(
        self, *, task: str, payload: dict[str, Any], job_id: str, delay_ms: int
    ) -> None:
        # No RETURNING: the API role may insert but not read the outbox. The id is the
        # column's default, computed by PostgreSQL in the INSERT itself (`inline`: no
        # `select nextval(...)` round trip first, nobody reads the key).
        await self.session.execute(
            insert(OutboxMessage)
            .inline()
            .values(
                task=task,
                queue=UNRESOLVED_QUEUE,
                payload=payload,
                job_id=job_id,
                delay_ms=delay_ms,
            )
        )

    async def insert_many(self, *, task: str, jobs: Sequence[tuple[str, dict[str, Any]]]) -> None:
        await self.session.execute(
            insert(OutboxMessage).inline(),
            [
                {
                    "task": task,
                    "queue": UNRESOLVED_QUEUE,
                    "payload": payload,
                    "job_id": job_id,
                    "delay_ms": 0,
                }
                for job_id, payload in jobs
            ],
        )

    async def claim_pending(self, limit: int) -> Sequence[OutboxMessage]:
        statement = (
            select(OutboxMessage)
            .where(OutboxMessage.relayed_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def pending_stats(self) -> tuple[int, dt.datetime | None]:
        """Rows not relayed yet and the oldest one's creation (the partial index keeps it cheap
        while the relay keeps up)."""
        statement = select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.relayed_at.is_(None)
        )
        count, oldest = (await self.session.execute(statement)).one()
        return int(count), oldest

    async def mark_relayed(
        self, ids_by_queue: Mapping[str, Sequence[int]], now: dt.datetime
    ) -> None:
        """Mark rows relayed, recording the queue each one was sent to."""
        for queue, ids in ids_by_queue.items():
            if ids:
                await self.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids))
                    .values(relayed_at=now, queue=queue)
                )

    async def mark_failed(self, message_id: int, error: str) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(relay_attempts=OutboxMessage.relay_attempts + 1, last_error=error[:2000])
        )


def outbox_insert_sql(first: int) -> str:
    """One outbox row as SQL for another repository's statement, on the bare asyncpg paths: its
    task, payload (jsonb) and job id are the parameters `$first` to `$first + 2`. Written by the
    same statement as the change that needs the job, it commits with it, in no round trip of its
    own (`PaymentIntentWrites`). No RETURNING: the API role may insert here, not read."""
    assert UNRESOLVED_QUEUE == "", "inlined below"
    return (
        "INSERT INTO outbox (task, queue, payload, job_id, delay_ms)"  # noqa: S608 - constant
        f" VALUES (${first}, '', ${first + 1}, ${first + 2}, 0)"
    )
