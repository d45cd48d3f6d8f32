"""The client address comes from one place and cannot be forged; logins are throttled per
address and per account (issue 12, finding 3)."""

from __future__ import annotations

import ipaddress

import asyncpg
import httpx
import pytest

from mboa.config import RateLimitSettings
from mboa.http_security import resolve_client_address
from tests.conftest import make_settings, other_api
from tests.helpers import PASSWORD, Api, assert_error

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


def _scope(peer: str, *forwarded: str) -> dict[str, object]:
    return {
        "client": (peer, 50000),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        # No trusted proxy (the default): the header is never read.
        ("127.0.0.1", ["203.0.113.7"], [], "127.0.0.1"),
        # An untrusted peer cannot speak for anyone else.
        ("198.51.100.2", ["203.0.113.7"], LOOPBACK, "198.51.100.2"),
        # A trusted proxy: the right-most hop that is not a proxy; forged hops to its left lose.
        ("127.0.0.1", ["203.0.113.7"], LOOPBACK, "203.0.113.7"),
        ("127.0.0.1", ["1.1.1.1, 203.0.113.7"], LOOPBACK, "203.0.113.7"),
        ("127.0.0.1", ["1.1.1.1", "203.0.113.7, 127.0.0.5"], LOOPBACK, "203.0.113.7"),
        ("::1", ["2001:db8::7"], LOOPBACK, "2001:db8::7"),
        ("127.0.0.1", ["[2001:db8::7]:443"], LOOPBACK, "2001:db8::7"),
        ("127.0.0.1", ["203.0.113.7:51000"], LOOPBACK, "203.0.113.7"),
        # Garbage stops the walk at the proxy: nothing to its left is believed.
        ("127.0.0.1", ["203.0.113.7, not-an-ip"], LOOPBACK, "127.0.0.1"),
        # Only proxies: the left-most is as far as we can see.
        ("127.0.0.1", ["127.0.0.9, 127.0.0.8"], LOOPBACK, "127.0.0.9"),
        ("127.0.0.1", [], LOOPBACK, "127.0.0.1"),
    ],
)
def test_resolve_client_address(
    peer: str, forwarded: list[str], proxies: list[ipaddress.IPv4Network], expected: str
) -> None:
    assert resolve_client_address(_scope(peer, *forwarded), proxies) == expected


async def _callback_from(client: httpx.AsyncClient, forwarded: str) -> None:
    callback = await client.put(
        "/v1/providers/mtn_momo/callback/att_1",
        content=b'{"status": "SUCCESSFUL"}',
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded},
    )
    assert callback.status_code == 200, callback.text


async def _stored_address(owner: asyncpg.Connection) -> str:
    return str(await owner.fetchval("SELECT client_address FROM provider_events"))


async def test_forged_forwarded_for_gets_no_fresh_bucket_by_default(
    database_url: str, redis_url: str, owner_connection: asyncpg.Connection, clean: None
) -> None:
    settings = make_settings(rate_limit=RateLimitSettings(anonymous_per_minute=3))
    async with other_api(settings, database_url, redis_url) as (_, client):
        for n in range(3):
            forged = {"X-Forwarded-For": f"203.0.113.{n}"}
            response = await client.post(
                "/v1/auth/refresh", json={"refresh_token": "rt_nope"}, headers=forged
            )
            assert response.status_code == 401, response.text
        limited = await client.post(
            "/v1/auth/refresh",
            json={"refresh_token": "rt_nope"},
            headers={"X-Forwarded-For": "203.0.113.99"},
        )
        assert_error(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        # A callback is stored with the peer's address, not the forged one.
        await _callback_from(client, "203.0.113.50")
    assert await _stored_address(owner_connection) == "127.0.0.1"


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(
    database_url: str, redis_url: str, owner_connection: asyncpg.Connection, clean: None
) -> None:
    settings = make_settings(
        rate_limit=RateLimitSettings(anonymous_per_minute=2),
        http={"trusted_proxies": ["127.0.0.0/8"]},
    )

    async def refresh(client: httpx.AsyncClient, forwarded: str) -> int:
        response = await client.post(
            "/v1/auth/refresh",
            json={"refresh_token": "rt_nope"},
            headers={"X-Forwarded-For": forwarded},
        )
        return response.status_code

    async with other_api(settings, database_url, redis_url) as (_, client):
        # The hop left of the client's is whatever the client sent: it changes nothing.
        assert await refresh(client, "1.1.1.1, 203.0.113.7") == 401
        assert await refresh(client, "2.2.2.2, 203.0.113.7") == 401
        assert await refresh(client, "3.3.3.3, 203.0.113.7") == 429
        assert await refresh(client, "203.0.113.8") == 401  # another client, another bucket
        await _callback_from(client, "203.0.113.50")
    assert await _stored_address(owner_connection) == "203.0.113.50"


async def test_per_account_login_throttle(api: Api, database_url: str, redis_url: str) -> None:
    account = await api.signup()
    settings = make_settings(
        rate_limit=RateLimitSettings(login_failures_per_account=3, login_lockout_seconds=60),
        http={"trusted_proxies": ["127.0.0.0/8"]},
    )
    async with other_api(settings, database_url, redis_url) as (_, client):
        n = 0

        async def login(email: str, password: str) -> httpx.Response:
            nonlocal n
            n += 1  # every attempt from another address: the per-address limit never applies
            return await client.post(
                "/v1/auth/login",
                json={"email": email, "password": password},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )

        # Failures are forgotten once the owner gets in.
        for _ in range(2):
            assert (await login(account.email, "wrong-password-1")).status_code == 401
        assert (await login(account.email, PASSWORD)).status_code == 200
        for _ in range(3):
            assert (await login(account.email, "wrong-password-1")).status_code == 401
        # Locked: even the right password is refused until the window ends.
        locked = await login(account.email, PASSWORD)
        assert_error(locked, 429, code="rate_limit")
        assert 1 <= int(locked.headers["retry-after"]) <= 60
        # An email no account has locks the same way, with the same answer.
        for _ in range(3):
            assert (await login("nobody@example.cm", "wrong-password-1")).status_code == 401
        unknown = await login("nobody@example.cm", "wrong-password-1")
        assert_error(unknown, 429, code="rate_limit")
        assert unknown.json()["error"]["message"] == locked.json()["error"]["message"]
        # Letter case does not make another account.
        assert (await login(account.email.upper(), PASSWORD)).status_code == 429
        # Other accounts are not affected.
        other = await api.signup()
        assert (await login(other.email, PASSWORD)).status_code == 200
