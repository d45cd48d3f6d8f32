"""The request log's store: one capped Redis list per merchant and mode, newest first."""

from __future__ import annotations

from redis.asyncio import Redis


async def push_capped(
    redis: Redis, lines_by_key: dict[str, list[bytes]], *, keep: int, ttl_seconds: int
) -> None:
    """Prepend the lines to their lists and cut each to its last `keep`, in one pipeline (one
    round trip for a whole batch of requests); a list nobody adds to expires after
    `ttl_seconds`."""
    async with redis.pipeline(transaction=False) as pipe:
        for key, lines in lines_by_key.items():
            pipe.lpush(key, *lines)
            pipe.ltrim(key, 0, keep - 1)
            pipe.expire(key, ttl_seconds)
        await pipe.execute()


async def latest(redis: Redis, key: str, limit: int) -> list[bytes]:
    lines: list[bytes | str] = await redis.lrange(key, 0, limit - 1)
    return [line if isinstance(line, bytes) else line.encode() for line in lines]
