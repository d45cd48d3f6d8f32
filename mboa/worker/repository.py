from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from mboa.kit.repository import RepositoryBase
from mboa.models import OutboxMessage


class OutboxRepository(RepositoryBase[OutboxMessage]):
    model = OutboxMessage

    async def insert(
        self, *, task: str, queue: str, payload: dict[str, Any], job_id: str, delay_ms: int
    ) -> None:
        # No RETURNING: the API role may insert but not read the outbox.
        await self.session.execute(
            insert(OutboxMessage).values(
                task=task, queue=queue, payload=payload, job_id=job_id, delay_ms=delay_ms
            )
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

    async def mark_relayed(self, ids: Sequence[int], now: dt.datetime) -> None:
        if ids:
            await self.session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(relayed_at=now)
            )

    async def mark_failed(self, message_id: int, error: str) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(relay_attempts=OutboxMessage.relay_attempts + 1, last_error=error[:2000])
        )
