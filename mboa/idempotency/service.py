"""Claiming a key before a POST runs, storing its response, replaying it to retries.

- The claim is committed on its own short transaction, so a concurrent duplicate sees it and gets
  409 `idempotency_key_in_use` while the first request runs.
- The response is stored by the request's own transaction (`complete`), in the same commit as the
  request's writes: a stored response always describes writes that happened.
- A request that fails validation, or fails without committing anything, releases its claim so the
  client can retry with the same key (Stripe does the same for validation failures).
- A claim whose process died is taken over after `stale_lock_seconds`.

Routes on the lean write path (`mboa.routing`, `WritesDep`) claim differently: the key is
inserted **with its response, last in the request's own transaction** (`claim_at_commit`), so a
concurrent duplicate waits for the first to end and then gets its answer replayed instead of a
409 (docs/decisions/0004-idempotency-claimed-at-commit.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import asyncpg
import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mboa.exceptions import BadRequest, IdempotencyError, IdempotencyInProgress
from mboa.idempotency.repository import IdempotencyKeyRepository, IdempotencyKeyWrites
from mboa.kit.time import utc_now
from mboa.postgres import Json, TenantContext, set_tenant

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
        _settle(
            key,
            (request_fingerprint, method, path),
            (record.request_fingerprint, record.request_method, record.request_path),
            record.locked_at,
            _stored_of(
                record.completed_at,
                record.response_status,
                record.response_body,
                record.response_headers,
            ),
            now=now,
            stale_after=stale_after,
        )
        await repository.relock(record, now)
        return Claim(tenant, key)


def _stored_of(
    completed_at: dt.datetime | None,
    status: int | None,
    body: bytes | None,
    headers: dict[str, Any] | None,
) -> StoredResponse | None:
    if completed_at is None or status is None:
        return None
    return StoredResponse(status, body or b"", headers or {})


def _settle(
    key: str,
    request: tuple[str, str, str],
    stored_request: tuple[str, str, str],
    locked_at: dt.datetime | None,
    stored: StoredResponse | None,
    *,
    now: dt.datetime,
    stale_after: dt.timedelta,
) -> None:
    """What an existing key answers to a request (fingerprint, method, path): the stored response
    (`IdempotentReplay`), 400 for other parameters, 409 while a live claim holds it. Returns when
    the key may be taken over (a claim whose process died)."""
    if stored_request != request:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were"
            " first used with. Try using a key other than"
            f" '{key}' if you meant to execute a different request.",
            param="Idempotency-Key",
        )
    if stored is not None:
        raise IdempotentReplay(stored)
    if locked_at is not None and now - locked_at < stale_after:
        raise IdempotencyInProgress(
            "There is currently another in-progress request using this Idempotency-Key."
            " Retry after it completes.",
            param="Idempotency-Key",
        )


# -- the lean write path: the key is claimed with its response, at the request's commit -------


@dataclasses.dataclass(frozen=True, slots=True)
class PendingKey:
    """A request's key, not claimed yet: the lean write path claims it at its commit."""

    tenant: TenantContext
    key: str
    method: str
    path: str
    fingerprint: str


def pending_key(
    tenant: TenantContext, *, key: str, method: str, path: str, body: bytes
) -> PendingKey:
    return PendingKey(tenant, key, method, path, fingerprint(method, path, body))


async def claim_at_commit(
    connection: asyncpg.Connection,
    pending: PendingKey,
    response: StoredResponse,
    *,
    stale_after: dt.timedelta,
) -> None:
    """Claim the key with the request's response, as the last write of the request's
    transaction (the caller commits). Raises like `claim` when the key already answers:
    `IdempotentReplay` (the caller rolls back and replays), 400 for other parameters, 409 while
    a claim of the session path is alive. A concurrent duplicate's uncommitted claim makes this
    wait for that transaction's end: then its answer is replayed, or this claim goes through."""
    writes = IdempotencyKeyWrites(connection)
    tenant = pending.tenant
    now = utc_now()
    values = (
        tenant.merchant_id,
        tenant.livemode,
        pending.key,
        pending.method,
        pending.path,
        pending.fingerprint,
        now,
        response.status,
        response.body,
        Json(orjson.dumps(response.headers).decode()),
    )
    if await writes.insert_completed(*values):
        return
    record = await writes.get(tenant.merchant_id, tenant.livemode, pending.key, for_update=True)
    if record is None:  # pruned between our insert and select
        raise IdempotencyInProgress(
            "Another request with this Idempotency-Key just finished; retry"
        )
    _settle_record(pending, record, now=now, stale_after=stale_after)
    await writes.take_over(*values)


async def check(
    connection: asyncpg.Connection, pending: PendingKey, *, stale_after: dt.timedelta
) -> None:
    """Raise what claiming would raise, without claiming: a request refused before its claim
    still gets the key's stored answer first, as when keys were claimed before the work."""
    tenant = pending.tenant
    record = await IdempotencyKeyWrites(connection).get(
        tenant.merchant_id, tenant.livemode, pending.key, for_update=False
    )
    if record is not None:
        _settle_record(pending, record, now=utc_now(), stale_after=stale_after)


def _settle_record(
    pending: PendingKey, record: asyncpg.Record, *, now: dt.datetime, stale_after: dt.timedelta
) -> None:
    _settle(
        pending.key,
        (pending.fingerprint, pending.method, pending.path),
        (record["request_fingerprint"], record["request_method"], record["request_path"]),
        record["locked_at"],
        _stored_of(
            record["completed_at"],
            record["response_status"],
            record["response_body"],
            record["response_headers"],
        ),
        now=now,
        stale_after=stale_after,
    )


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
