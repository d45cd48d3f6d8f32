"""Claiming a key before a POST runs, storing its response, replaying it to retries.

- The claim is committed on its own short transaction, so a concurrent duplicate sees it and gets
  409 `idempotency_key_in_use` while the first request runs.
- The response is stored by the request's own transaction (`complete`), in the same commit as the
  request's writes: a stored response always describes writes that happened.
- A request that fails validation, or fails without committing anything, releases its claim so the
  client can retry with the same key (Stripe does the same for validation failures).
- A claim whose process died is taken over after `stale_lock_seconds`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mboa.exceptions import BadRequest, IdempotencyError, IdempotencyInProgress
from mboa.idempotency.repository import IdempotencyKeyRepository
from mboa.kit.time import utc_now
from mboa.postgres import TenantContext, set_tenant

MAX_KEY_LENGTH = 255
log = structlog.get_logger("mboa.idempotency")
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    tenant: TenantContext
    key: str


@dataclasses.dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, Any]


class IdempotentReplay(Exception):
    def __init__(self, response: StoredResponse) -> None:
        super().__init__("replay")
        self.response = response


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            param="Idempotency-Key",
            code="idempotency_key_invalid",
        )
    return key


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantContext,
    *,
    key: str,
    method: str,
    path: str,
    body: bytes,
    stale_after: dt.timedelta,
) -> Claim:
    request_fingerprint = fingerprint(method, path, body)
    now = utc_now()
    async with sessions() as session, session.begin():
        await set_tenant(session, tenant)
        repository = IdempotencyKeyRepository.from_session(session)
        if await repository.try_insert(
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            key=key,
            method=method,
            path=path,
            fingerprint=request_fingerprint,
            now=now,
        ):
            return Claim(tenant, key)
        record = await repository.get_for_update(
            merchant_id=tenant.merchant_id, livemode=tenant.livemode, key=key
        )
        if record is None:  # pruned between our insert and select: claim again next time
            raise IdempotencyInProgress(
                "Another request with this Idempotency-Key just finished; retry"
            )
        if (
            record.request_fingerprint != request_fingerprint
            or record.request_method != method
            or record.request_path != path
        ):
            raise IdempotencyError(
                "Keys for idempotent requests can only be used with the same parameters they were"
                " first used with. Try using a key other than"
                f" '{key}' if you meant to execute a different request.",
                param="Idempotency-Key",
            )
        if record.completed_at is not None and record.response_status is not None:
            raise IdempotentReplay(
                StoredResponse(
                    record.response_status,
                    record.response_body or b"",
                    record.response_headers or {},
                )
            )
        if record.locked_at is not None and now - record.locked_at < stale_after:
            raise IdempotencyInProgress(
                "There is currently another in-progress request using this Idempotency-Key."
                " Retry after it completes.",
                param="Idempotency-Key",
            )
        await repository.relock(record, now)
        return Claim(tenant, key)


async def complete(session: AsyncSession, claim_: Claim, response: StoredResponse) -> None:
    """Store the response inside the request's own transaction (the caller commits).

    The key belongs to the claim's merchant and mode; a team route may have scoped the
    transaction to the merchant alone, where row-level security hides mode-scoped rows, so the
    transaction is scoped to the claim's tenant first (the endpoint's writes are already flushed).
    An API-key route's session already is, and skips that round trip.
    """
    if session.info.get("tenant") != claim_.tenant:
        await set_tenant(session, claim_.tenant)
    updated = await IdempotencyKeyRepository.from_session(session).complete(
        merchant_id=claim_.tenant.merchant_id,
        livemode=claim_.tenant.livemode,
        key=claim_.key,
        status=response.status,
        body=response.body,
        headers=response.headers,
        now=utc_now(),
    )
    if updated != 1:
        # Never silent: a claim left locked would answer 409 to every retry, then run again.
        log.error("idempotency_complete_missed", key=claim_.key, updated=updated)


async def complete_alone(
    sessions: async_sessionmaker[AsyncSession], claim_: Claim, response: StoredResponse
) -> None:
    """Store an error response after the request's transaction rolled back."""
    async with sessions() as session, session.begin():
        await complete(session, claim_, response)


async def release(sessions: async_sessionmaker[AsyncSession], claim_: Claim) -> None:
    async with sessions() as session, session.begin():
        await set_tenant(session, claim_.tenant)
        await IdempotencyKeyRepository.from_session(session).release(
            merchant_id=claim_.tenant.merchant_id,
            livemode=claim_.tenant.livemode,
            key=claim_.key,
        )
