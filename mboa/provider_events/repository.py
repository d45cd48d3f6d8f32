"""SQL for `provider_events` (platform role only: callbacks are not merchant-owned yet)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert

from mboa.kit.repository import RepositoryBase
from mboa.models import ProviderEvent


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    id: str
    first_sighting: bool
    duplicate_count: int


class ProviderEventRepository(RepositoryBase[ProviderEvent]):
    model = ProviderEvent

    async def store(self, values: dict[str, Any]) -> Stored:
        """Insert the callback, or count one more delivery of it (same provider + dedupe key).

        One statement, so concurrent duplicate deliveries serialise on the unique index and
        exactly one of them sees `first_sighting` (and enqueues the confirmation)."""
        statement = (
            insert(ProviderEvent)
            .values(**values)
            .on_conflict_do_update(
                index_elements=[ProviderEvent.provider, ProviderEvent.dedupe_key],
                set_={
                    "duplicate_count": ProviderEvent.duplicate_count + 1,
                    "last_seen_at": func.now(),
                },
            )
            .returning(ProviderEvent.id, ProviderEvent.duplicate_count)
        )
        event_id, duplicate_count = (await self.session.execute(statement)).one()
        return Stored(
            id=event_id, first_sighting=duplicate_count == 0, duplicate_count=duplicate_count
        )

    async def record_result(
        self,
        event_id: str,
        *,
        result: str,
        confirmed_status: str | None,
        detail: dict[str, Any],
        now: dt.datetime,
    ) -> bool:
        """Record the outcome once; a second run (re-delivered job) changes nothing."""
        outcome = await self.session.execute(
            update(ProviderEvent)
            .where(ProviderEvent.id == event_id, ProviderEvent.processed_at.is_(None))
            .values(
                processed_at=now,
                result=result,
                confirmed_status=confirmed_status,
                result_detail=detail,
            )
            .returning(ProviderEvent.id)
        )
        return outcome.scalar_one_or_none() is not None
