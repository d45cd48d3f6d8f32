from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from mboa.kit.repository import RepositoryBase
from mboa.models import IdempotencyKey


class IdempotencyKeyRepository(RepositoryBase[IdempotencyKey]):
    model = IdempotencyKey

    async def try_insert(
        self,
        *,
        merchant_id: str,
        livemode: bool,
        key: str,
        method: str,
        path: str,
        fingerprint: str,
        now: dt.datetime,
    ) -> bool:
        statement = (
            insert(IdempotencyKey)
            .values(
                merchant_id=merchant_id,
                livemode=livemode,
                key=key,
                request_method=method,
                request_path=path,
                request_fingerprint=fingerprint,
                locked_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        result = await self.session.execute(statement)
        return result.scalar_one_or_none() is not None

    async def get_for_update(
        self, *, merchant_id: str, livemode: bool, key: str
    ) -> IdempotencyKey | None:
        statement = (
            select(IdempotencyKey)
            .where(
                IdempotencyKey.merchant_id == merchant_id,
                IdempotencyKey.livemode == livemode,
                IdempotencyKey.key == key,
            )
            .with_for_update()
        )
        return await self.get_one_or_none(statement)

    async def relock(self, record: IdempotencyKey, now: dt.datetime) -> None:
        record.locked_at = now
        record.created_at = now
        await self.session.flush()

    async def complete(
        self,
        *,
        merchant_id: str,
        livemode: bool,
        key: str,
        status: int,
        body: bytes,
        headers: dict[str, Any],
        now: dt.datetime,
    ) -> int:
        """Rows updated: 1, or 0 if row-level security or pruning hid the key."""
        result = await self.session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.merchant_id == merchant_id,
                IdempotencyKey.livemode == livemode,
                IdempotencyKey.key == key,
            )
            .values(
                response_status=status,
                response_body=body,
                response_headers=headers,
                completed_at=now,
                locked_at=None,
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, *, merchant_id: str, livemode: bool, key: str) -> None:
        await self.session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.merchant_id == merchant_id,
                IdempotencyKey.livemode == livemode,
                IdempotencyKey.key == key,
                IdempotencyKey.completed_at.is_(None),
            )
        )

    async def prune_older_than(self, cutoff: dt.datetime) -> int:
        """Platform-role maintenance: drop keys past retention."""
        result = await self.session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.created_at < cutoff)
            .returning(IdempotencyKey.key)
        )
        return len(result.all())
