from __future__ import annotations

import asyncio

from mboa.config import RateLimitSettings, Settings
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
