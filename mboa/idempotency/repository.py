from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
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


class IdempotencyKeyWrites:
    """The lean write path's side of the keys (`mboa.routing`, docs/decisions/0004): prepared
    statements on the request's own transaction, under row-level security like the session."""

    _CLAIM = (
        "INSERT INTO idempotency_keys (merchant_id, livemode, key, request_method, request_path,"
        " request_fingerprint, created_at, response_status, response_body, response_headers,"
        " completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $7)"
        " ON CONFLICT DO NOTHING"
    )
    _GET = (
        "SELECT request_method, request_path, request_fingerprint, locked_at, response_status,"
        " response_body, response_headers, completed_at FROM idempotency_keys"
        " WHERE merchant_id = $1 AND livemode = $2 AND key = $3"
    )
    _TAKE_OVER = (
        "UPDATE idempotency_keys SET request_method = $4, request_path = $5,"
        " request_fingerprint = $6, created_at = $7, locked_at = NULL, response_status = $8,"
        " response_body = $9, response_headers = $10, completed_at = $7"
        " WHERE merchant_id = $1 AND livemode = $2 AND key = $3"
    )

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def insert_completed(self, *values: Any) -> bool:
        """Insert the key with its response (`_CLAIM`'s ten values); False if it exists. A
        concurrent transaction holding the same key makes this wait for its end."""
        status: str = await self.connection.execute(self._CLAIM, *values)
        return status.endswith(" 1")

    async def get(
        self, merchant_id: str, livemode: bool, key: str, *, for_update: bool
    ) -> asyncpg.Record | None:
        statement = self._GET + (" FOR UPDATE" if for_update else "")
        row: asyncpg.Record | None = await self.connection.fetchrow(
            statement, merchant_id, livemode, key
        )
        return row

    async def take_over(self, *values: Any) -> None:
        """A claim whose process died, completed with this request's response instead."""
        await self.connection.execute(self._TAKE_OVER, *values)
