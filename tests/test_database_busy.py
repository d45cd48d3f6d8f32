"""A process whose database connections are all busy answers 503 `database_busy` quickly, with
Retry-After, instead of leaving the client waiting and then failing with a 500."""

from __future__ import annotations

import time

from mboa.config import DatabaseSettings, Settings
from tests.conftest import other_api
from tests.helpers import Api, bearer


async def test_requests_get_503_when_every_connection_is_busy(
    api: Api, settings: Settings, database_url: str, redis_url: str
) -> None:
    account = await api.signup()
    narrow = settings.model_copy(
        update={"database": DatabaseSettings(pool_size=1, max_overflow=0, pool_timeout_seconds=0.5)}
    )
    async with other_api(narrow, database_url, redis_url) as (state, client):
        headers = bearer(account.secret_key)
        assert (await client.get("/v1/customers", headers=headers)).status_code == 200
        held_read = await state.db.reads.acquire()
        try:
            async with state.db.app.connect() as held_orm:
                await held_orm.exec_driver_sql("SELECT 1")
                for method, path, body in (
                    ("GET", "/v1/customers", None),
                    ("POST", "/v1/customers", {"name": "Awa"}),
                ):
                    started = time.monotonic()
                    response = await client.request(method, path, headers=headers, json=body)
                    assert time.monotonic() - started < 10
                    assert response.status_code == 503, response.text
                    assert response.json()["error"]["code"] == "database_busy"
                    assert response.headers["retry-after"] == "1"
        finally:
            await state.db.reads.release(held_read)
        # Nothing was written, and the process serves again once connections free up.
        listed = await client.get("/v1/customers", headers=headers)
        assert listed.status_code == 200
        assert listed.json()["data"] == []
