from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from mboa.config import RateLimitSettings, Settings
from mboa.exceptions import ServiceUnavailable
from mboa.kit.net import free_port
from mboa.ratelimit import RateLimiter
from tests.conftest import other_api
from tests.helpers import Api, assert_error, bearer


async def test_per_key_limit_answers_429_with_retry_after(
    api: Api, settings: Settings, database_url: str, redis_url: str
) -> None:
    account = await api.signup()
    other = await api.create_key(account)
    limited = settings.model_copy(
        update={"rate_limit": RateLimitSettings(test_per_second=5, live_per_second=5)}
    )
    async with other_api(limited, database_url, redis_url) as (_, client):
        responses = await asyncio.gather(
            *[client.get("/v1/account", headers=account.key_headers) for _ in range(12)]
        )
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 5, statuses
        rejected = [r for r in responses if r.status_code == 429]
        assert len(rejected) == 7
        error = assert_error(rejected[0], 429, type_="rate_limit_error", code="rate_limit")
        assert "Retry" in error["message"]
        assert 1 <= int(rejected[0].headers["retry-after"]) <= 2
        # Limits are per key: another key of the same merchant is unaffected.
        fresh = await client.get("/v1/account", headers=bearer(other["secret"]))
        assert fresh.status_code == 200
        await asyncio.sleep(2.1)
        again = await client.get("/v1/account", headers=account.key_headers)
        assert again.status_code == 200


async def test_login_attempts_are_limited_per_client(
    api: Api, settings: Settings, database_url: str, redis_url: str
) -> None:
    limited = settings.model_copy(update={"rate_limit": RateLimitSettings(anonymous_per_minute=3)})
    async with other_api(limited, database_url, redis_url) as (_, client):
        statuses = []
        for _ in range(5):
            response = await client.post(
                "/v1/auth/login", json={"email": "x@example.cm", "password": "wrong-password-1"}
            )
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429]


async def _silent_server() -> tuple[asyncio.Server, int]:
    """Accepts connections and never answers: a Redis that hangs."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _unavailable_count() -> float:
    return REGISTRY.get_sample_value("mboa_rate_limit_unavailable_total") or 0.0


async def test_a_hanging_or_absent_limiter_store_fails_open_except_for_login() -> None:
    settings = RateLimitSettings(test_per_second=1, redis_timeout_ms=200)
    server, port = await _silent_server()
    closed_port = free_port()
    try:
        for url in (f"redis://127.0.0.1:{port}/0", f"redis://127.0.0.1:{closed_port}/0"):
            limiter = RateLimiter(url, settings)
            before = _unavailable_count()
            started = time.monotonic()
            # Over the limit of 1/s, yet served: without Redis there is no decision to enforce.
            for _ in range(3):
                await limiter.hit_key("key_hanging", livemode=False)
            assert await limiter.refuse_callback("mtn_momo", "10.0.0.1", 300) is None
            # Login and sign-up fail closed: their limit is what stops password guessing.
            with pytest.raises(ServiceUnavailable):
                await limiter.hit_anonymous("10.0.0.1", "login")
            assert time.monotonic() - started < 5 * 0.2 + 1.0
            assert _unavailable_count() == before + 5
            await limiter.close()
    finally:
        server.close()
