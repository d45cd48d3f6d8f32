"""A short-lived, in-process cache of API key look-ups, invalidated across processes.

Every authenticated request would otherwise pay a database round trip before its real work. A
look-up is cached for `auth.key_cache_seconds`; expiry is still checked on every request against
the cached `expires_at`. When a key changes (revoke, roll) or a merchant's status changes
(approve, suspend), the change is announced after its transaction commits: this process drops
the entries at once, and the others drop them when the Redis message arrives. If Redis is down
the message is lost and the entry lives at most `key_cache_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.repository import KeyForAuthentication
from mboa.kit.cancellation import cancel_and_wait

log = structlog.get_logger("mboa.auth.cache")
CHANNEL = "mboa:auth:invalidate"
_PENDING = "mboa_auth_invalidations"


@dataclasses.dataclass(frozen=True, slots=True)
class Invalidation:
    kind: str  # "key" or "merchant"
    id: str

    def encode(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def decode(cls, raw: str) -> Invalidation:
        kind, _, ident = raw.partition(":")
        return cls(kind, ident)


def invalidate_after_commit(
    session: AsyncSession, *, key_id: str | None = None, merchant_id: str | None = None
) -> None:
    """Called by services: the route announces these once the transaction has committed."""
    pending: list[Invalidation] = session.info.setdefault(_PENDING, [])
    if key_id is not None:
        pending.append(Invalidation("key", key_id))
    if merchant_id is not None:
        pending.append(Invalidation("merchant", merchant_id))


def take_invalidations(session: AsyncSession) -> list[Invalidation]:
    pending: list[Invalidation] = session.info.pop(_PENDING, [])
    return pending


class ApiKeyCache:
    def __init__(self, redis: Redis, ttl_seconds: float) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.entries: dict[str, tuple[float, KeyForAuthentication]] = {}
        self.max_entries = 100_000
        self._listener: asyncio.Task[None] | None = None

    def get(self, secret_hash: str) -> KeyForAuthentication | None:
        if self.ttl <= 0:
            return None
        entry = self.entries.get(secret_hash)
        if entry is None:
            return None
        stored_at, key = entry
        if time.monotonic() - stored_at > self.ttl:
            self.entries.pop(secret_hash, None)
            return None
        return key

    def put(self, secret_hash: str, key: KeyForAuthentication) -> None:
        if self.ttl <= 0:
            return
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.entries[secret_hash] = (time.monotonic(), key)

    def drop(self, invalidation: Invalidation) -> None:
        attribute = "id" if invalidation.kind == "key" else "merchant_id"
        stale = [
            h for h, (_, k) in self.entries.items() if getattr(k, attribute) == invalidation.id
        ]
        for secret_hash in stale:
            self.entries.pop(secret_hash, None)

    async def invalidate(self, invalidations: list[Invalidation]) -> None:
        for invalidation in invalidations:
            self.drop(invalidation)
            try:
                await self.redis.publish(CHANNEL, invalidation.encode())
            except Exception as exc:  # the TTL bounds staleness in other processes
                log.warning("auth_invalidation_not_published", error=repr(exc))

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                # Anything cached before we (re)subscribed may have missed a message.
                self.entries.clear()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        self.drop(
                            Invalidation.decode(data.decode() if isinstance(data, bytes) else data)
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("auth_invalidation_listener_error", error=repr(exc))
                self.entries.clear()
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def start(self) -> None:
        if self._listener is None and self.ttl > 0:
            self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._listener is not None:
            await cancel_and_wait(self._listener)
            self._listener = None
