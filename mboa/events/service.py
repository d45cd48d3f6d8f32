"""Record an event in the caller's transaction: it exists exactly when its change committed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.kit.ids import Prefix, new_id
from mboa.kit.time import utc_now
from mboa.models import Event


class EventService:
    async def record(
        self,
        session: AsyncSession,
        *,
        merchant_id: str,
        livemode: bool,
        type: str,
        snapshot: dict[str, Any],
    ) -> Event:
        """`snapshot` is the object as the API renders it (JSON-ready, with its `id`)."""
        return self.add(
            session, merchant_id=merchant_id, livemode=livemode, type=type, snapshot=snapshot
        )

    def add(
        self,
        session: AsyncSession,
        *,
        merchant_id: str,
        livemode: bool,
        type: str,
        snapshot: dict[str, Any],
    ) -> Event:
        """`record` without awaiting: the event is written with the session's next flush
        (events of one flush go to PostgreSQL in one statement)."""
        event = Event(
            id=new_id(Prefix.event),
            merchant_id=merchant_id,
            livemode=livemode,
            type=type,
            object_id=str(snapshot["id"]),
            data={"object": snapshot},
            created_at=utc_now(),
        )
        session.add(event)
        return event


event = EventService()
