"""The workers' breaker reports in Redis (`breaker_board`): a hash per worker process, its
tripped breakers (`provider:product` → state), that expires when the worker stops reporting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KEY = "{prefix}:breakers:{instance}"
TTL_SECONDS = 30
"""A worker that stopped publishing (gone, or cut off from Redis) drops out after this."""
_ALIVE = "_alive"
"""A field every hash carries, so a worker whose breakers are all closed is still counted."""


class BreakerRepository:
    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, instance: str) -> str:
        return KEY.format(prefix=self.prefix, instance=instance)

    async def publish(self, instance: str, states: Mapping[str, str]) -> None:
        """Replace the worker's report (one transaction: never half of it)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key(instance))
            pipe.hset(self.key(instance), mapping={_ALIVE: "1", **states})
            pipe.expire(self.key(instance), TTL_SECONDS)
            await pipe.execute()

    async def reports(self) -> list[dict[str, str]]:
        """Every live worker's report, without the marker field."""
        reports = []
        async for key in self.redis.scan_iter(match=self.key("*"), count=100):
            raw = await self.redis.hgetall(key)
            if raw:
                report = {_text(k): _text(v) for k, v in raw.items()}
                report.pop(_ALIVE, None)
                reports.append(report)
        return reports


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
