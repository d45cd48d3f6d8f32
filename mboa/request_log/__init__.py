"""The request log: the last API calls of each merchant and mode, shown by the dashboard's
Developers section (docs/dashboard.md, "Request log").

Cheap on the hot path: the access-log middleware hands each `/v1/` request of a merchant to
`RequestLog.record`, which only appends a small JSON line to a buffer in memory. A background
task writes the buffer to Redis every `FLUSH_SECONDS`, in one pipeline (`LPUSH` + `LTRIM` per
merchant and mode: a capped list of the last `KEEP` calls), after the responses have gone. No
database write, no round trip in the request; a Redis error is logged and the batch dropped.

Nothing secret is kept: no bodies, no query string, no header; the path is masked as the logs
are (keys, phone numbers); the key is its id (the page shows it redacted)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis

from mboa.logging import mask_text
from mboa.request_log.repository import latest, push_capped

log = structlog.get_logger("mboa.request_log")

KEEP = 1000
"""Calls kept per merchant and mode."""
TTL_SECONDS = 30 * 86_400
"""A merchant's log is forgotten 30 days after its last call."""
FLUSH_SECONDS = 0.2
MAX_BUFFERED = 20_000
"""Beyond this (Redis unreachable for long), new entries are dropped, not piled up."""


def redis_key(merchant_id: str, livemode: bool) -> str:
    return f"mboa:request_log:{merchant_id}:{'live' if livemode else 'test'}"


class RequestLog:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._buffer: list[tuple[str, bytes]] = []
        self._task: asyncio.Task[None] | None = None

    def record(
        self,
        *,
        merchant_id: str,
        livemode: bool,
        method: str,
        path: str,
        status: int,
        request_id: str,
        latency_ms: float,
        key_id: str | None,
    ) -> None:
        """Queue one call (never raises, never waits)."""
        if len(self._buffer) >= MAX_BUFFERED:
            return
        entry = {
            "method": method,
            "path": mask_text(path[:300]),
            "status": status,
            "request_id": request_id,
            "latency_ms": round(latency_ms, 1),
            "at": round(time.time(), 3),
            "key": key_id,
        }
        self._buffer.append((redis_key(merchant_id, livemode), orjson.dumps(entry)))
        if self._task is None:
            try:
                self._task = asyncio.get_running_loop().create_task(self._flush_soon())
            except RuntimeError:  # no loop: nothing to write with
                self._buffer.clear()

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(FLUSH_SECONDS)
        finally:
            self._task = None
            await self.flush()

    async def flush(self) -> None:
        """Write what is buffered now (also at shutdown)."""
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        grouped: dict[str, list[bytes]] = {}
        for key, line in batch:
            grouped.setdefault(key, []).append(line)
        try:
            await push_capped(self.redis, grouped, keep=KEEP, ttl_seconds=TTL_SECONDS)
        except Exception:
            log.exception("request_log_write_failed", entries=len(batch))

    async def recent(
        self, merchant_id: str, livemode: bool, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The merchant's last calls in this mode, newest first."""
        lines = await latest(self.redis, redis_key(merchant_id, livemode), limit)
        entries = []
        for line in lines:
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict):
                entries.append(value)
        return entries
