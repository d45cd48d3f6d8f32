"""An API key's last use (mboa/auth/last_used.py): noted in memory per request, written in one
batched UPDATE per flush interval, to the minute, never backwards, and at shutdown.

Each test runs a second API process (`other_api`) with its own settings (a short flush
interval), against the same database; the keys are listed through the session's API."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

from mboa.auth.repository import AuthRepository
from mboa.config import Settings
from mboa.state import AppState
from tests.conftest import other_api
from tests.helpers import Account, Api, assert_error, bearer


def with_flush(settings: Settings, seconds: float) -> Settings:
    return settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"last_used_flush_seconds": seconds})}
    )


@asynccontextmanager
async def api_flushing_every(
    seconds: float, settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[tuple[AppState, httpx.AsyncClient]]:
    async with other_api(with_flush(settings, seconds), database_url, redis_url) as running:
        yield running


async def keys_by_id(api: Api, account: Account) -> dict[str, dict[str, Any]]:
    response = await api.http.get(
        f"/v1/merchants/{account.merchant_id}/api_keys",
        params={"limit": 100},
        headers=account.user_headers,
    )
    assert response.status_code == 200, response.text
    return {key["id"]: key for key in response.json()["data"]}


async def last_used(api: Api, account: Account, key_id: str) -> int | None:
    value = (await keys_by_id(api, account))[key_id]["last_used"]
    assert value is None or isinstance(value, int)
    return value


async def wait_for_last_used(api: Api, account: Account, key_id: str) -> int:
    for _ in range(100):
        value = await last_used(api, account, key_id)
        if value is not None:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key_id}: last_used never written")


def minute_start(unix_time: float) -> int:
    return int(unix_time // 60) * 60


async def away_from_a_minute_boundary(margin: float = 12.0) -> None:
    """Calls that must fall in one minute start early enough in it."""
    if time.time() % 60 > 60 - margin:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)


async def test_a_used_key_shows_its_last_use_within_the_interval_and_an_unused_key_none(
    api: Api, settings: Settings, database_url: str, redis_url: str
) -> None:
    account = await api.signup()
    used = await api.create_key(account, name="used")
    unused = await api.create_key(account, name="unused")
    async with api_flushing_every(0.2, settings, database_url, redis_url) as (_, client):
        before = time.time()
        assert (await client.get("/v1/account", headers=bearer(used["secret"]))).status_code == 200
        seen = await wait_for_last_used(api, account, used["id"])
        after = time.time()
        # To the minute: the start of the minute of the call.
        assert minute_start(before) <= seen <= minute_start(after)
        assert seen % 60 == 0
        assert after - before < 5  # written within the interval (and polling), not at shutdown
        assert await last_used(api, account, unused["id"]) is None
        one = await api.http.get(
            f"/v1/merchants/{account.merchant_id}/api_keys/{used['id']}",
            headers=account.user_headers,
        )
        assert one.json()["last_used"] == seen


async def test_calls_in_one_minute_make_one_update_for_all_their_keys(
    api: Api,
    settings: Settings,
    database_url: str,
    redis_url: str,
    owner_connection: asyncpg.Connection,
) -> None:
    account = await api.signup()
    first = await api.create_key(account, name="first")
    second = await api.create_key(account, name="second")
    await away_from_a_minute_boundary()
    async with api_flushing_every(1.0, settings, database_url, redis_url) as (state, client):
        usage = state.key_usage
        calls = [first, first, second, first]
        for key in calls:
            response = await client.get("/v1/account", headers=bearer(key["secret"]))
            assert response.status_code == 200
        await wait_for_last_used(api, account, second["id"])
        assert (usage.statements, usage.rows_written) == (1, 2)
        values = await keys_by_id(api, account)
        row_versions = await owner_connection.fetch(
            "SELECT id, xmin::text AS version FROM api_keys WHERE id = ANY($1::varchar[])",
            [first["id"], second["id"]],
        )

        # The same minute again: nothing to write, the rows are not touched.
        for key in calls:
            response = await client.get("/v1/customers", headers=bearer(key["secret"]))
            assert response.status_code == 200
        await asyncio.sleep(1.5)
        assert (usage.statements, usage.rows_written) == (1, 2)
        assert await keys_by_id(api, account) == values
        assert (
            await owner_connection.fetch(
                "SELECT id, xmin::text AS version FROM api_keys WHERE id = ANY($1::varchar[])",
                [first["id"], second["id"]],
            )
            == row_versions
        )


async def test_the_batch_is_one_statement_for_many_keys_and_never_goes_back(
    api: Api, app_state: AppState, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    keys = [await api.create_key(account, name=f"k{n}") for n in range(5)]
    ids = [key["id"] for key in keys]
    later = dt.datetime(2026, 12, 4, 10, 31, tzinfo=dt.UTC)
    earlier = later - dt.timedelta(minutes=5)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = app_state.db.platform.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with app_state.db.platform_statements() as session:
            repository = AuthRepository.from_session(session)
            assert await repository.record_last_used(dict.fromkeys(ids, later)) == 5
            # Older than what is stored (another process, a late batch): nothing moves back.
            assert await repository.record_last_used(dict.fromkeys(ids, earlier)) == 0
            assert await repository.record_last_used({ids[0]: later}) == 0
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 3
    assert all(s.lstrip().startswith("UPDATE api_keys") for s in statements)
    stored = await owner_connection.fetch(
        "SELECT last_used_at FROM api_keys WHERE id = ANY($1::varchar[])", ids
    )
    assert [row["last_used_at"] for row in stored] == [later] * 5
    assert all(
        key["last_used"] == int(later.timestamp())
        for key in (await keys_by_id(api, account)).values()
        if key["id"] in ids
    )


async def test_a_revoked_or_unknown_key_is_not_recorded(
    api: Api, settings: Settings, database_url: str, redis_url: str
) -> None:
    account = await api.signup()
    revoked = await api.create_key(account, name="revoked")
    used_then_revoked = await api.create_key(account, name="used then revoked")
    witness = await api.create_key(account, name="witness")
    async with api_flushing_every(0.2, settings, database_url, redis_url) as (state, client):
        ok = await client.get("/v1/account", headers=bearer(used_then_revoked["secret"]))
        assert ok.status_code == 200
        before_revocation = await wait_for_last_used(api, account, used_then_revoked["id"])
        for key in (revoked, used_then_revoked):
            response = await api.http.post(
                f"/v1/merchants/{account.merchant_id}/api_keys/{key['id']}/revoke",
                headers=account.user_headers,
            )
            assert response.status_code == 200
        for key in (revoked, used_then_revoked):
            for _ in range(3):
                refused = await client.get("/v1/account", headers=bearer(key["secret"]))
                assert_error(refused, 401, code="api_key_revoked")
        unknown = await client.get("/v1/account", headers=bearer("sk_test_" + "x" * 43))
        assert_error(unknown, 401, code="api_key_invalid")
        # A call after those, and its write, shows they had their chance to be written.
        assert (
            await client.get("/v1/account", headers=bearer(witness["secret"]))
        ).status_code == 200
        await wait_for_last_used(api, account, witness["id"])
        await asyncio.sleep(0.5)
        assert await last_used(api, account, revoked["id"]) is None
        assert await last_used(api, account, used_then_revoked["id"]) == before_revocation
        assert state.key_usage.rows_written == 2


async def test_what_is_pending_is_written_at_shutdown(
    api: Api, settings: Settings, database_url: str, redis_url: str
) -> None:
    account = await api.signup()
    key = await api.create_key(account)
    async with api_flushing_every(3600, settings, database_url, redis_url) as (state, client):
        called = time.time()
        assert (await client.get("/v1/account", headers=bearer(key["secret"]))).status_code == 200
        await asyncio.sleep(0.3)
        assert await last_used(api, account, key["id"]) is None  # not before its interval
        assert state.key_usage.statements == 0
    assert state.key_usage.statements == 1
    value = await last_used(api, account, key["id"])
    assert value is not None
    assert minute_start(called) <= value <= minute_start(time.time())
