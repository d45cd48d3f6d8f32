"""`POST /v1/payment_intents` claims its Idempotency-Key at its commit, in its own transaction
(the lean write path; docs/decisions/0004-idempotency-claimed-at-commit.md): what a duplicate
sees, what is stored, what is released. The session path's keys are tests/idempotency."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import httpx
import orjson

from mboa.idempotency.service import fingerprint
from mboa.postgres import plain_url
from tests.helpers import Api, assert_error, bearer

PATH = "/v1/payment_intents"
BODY = {"amount": 1500, "currency": "XAF", "phone": "+237670000000"}


async def post(
    http: httpx.AsyncClient, secret: str, key: str, body: dict[str, Any] = BODY
) -> httpx.Response:
    return await http.post(
        PATH,
        content=orjson.dumps(body),
        headers={**bearer(secret), "Idempotency-Key": key, "Content-Type": "application/json"},
    )


async def written(owner: asyncpg.Connection) -> tuple[int, int, int, int]:
    row = await owner.fetchrow(
        "SELECT (SELECT count(*) FROM payment_intents), (SELECT count(*) FROM payment_attempts),"
        " (SELECT count(*) FROM events), (SELECT count(*) FROM outbox)"
    )
    assert row is not None
    return row[0], row[1], row[2], row[3]


async def hold_key(
    url: str, merchant_id: str, key: str, *, completed: bool, locked_at: dt.datetime | None
) -> asyncpg.Connection:
    """Another transaction that inserted the key and has not ended yet (as a concurrent request
    of the lean path does until its commit). The caller ends it."""
    holder = await asyncpg.connect(plain_url(url))
    await holder.execute("BEGIN")
    await holder.execute(
        "INSERT INTO idempotency_keys (merchant_id, livemode, key, request_method,"
        " request_path, request_fingerprint, locked_at, response_status, response_body,"
        " response_headers, completed_at) VALUES ($1, false, $2, 'POST', $3, $4, $5, $6, $7,"
        " $8, $9)",
        merchant_id,
        key,
        PATH,
        fingerprint("POST", PATH, orjson.dumps(BODY)),
        locked_at,
        200 if completed else None,
        b'{"first": true}' if completed else None,
        '{"content-type": "application/json"}' if completed else None,
        dt.datetime.now(dt.UTC) if completed else None,
    )
    return holder


async def test_concurrent_duplicates_all_get_the_one_answer(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    responses = await asyncio.gather(
        *[post(api.http, account.secret_key, "race") for _ in range(8)]
    )
    # No 409 on this path: a duplicate waits for the first's commit and gets its answer.
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    originals = [r for r in responses if r.headers.get("idempotent-replayed") != "true"]
    assert len(originals) == 1
    assert await written(owner_connection) == (1, 1, 2, 1)


async def test_a_duplicate_waits_for_the_first_commit_then_replays_it(
    api: Api, owner_connection: asyncpg.Connection, database_url: str
) -> None:
    account = await api.signup()
    holder = await hold_key(
        database_url, account.merchant_id, "held", completed=True, locked_at=None
    )
    try:
        request = asyncio.create_task(post(api.http, account.secret_key, "held"))
        await asyncio.sleep(0.5)
        assert not request.done()  # its claim waits on the first transaction's key
        await holder.execute("COMMIT")
        response = await asyncio.wait_for(request, 10)
    finally:
        await holder.close()
    assert response.status_code == 200, response.text
    assert response.headers["idempotent-replayed"] == "true"
    assert response.json() == {"first": True}
    # Its own writes were rolled back: only the first request's count.
    assert await written(owner_connection) == (0, 0, 0, 0)


async def test_a_duplicate_runs_when_the_first_rolls_back(
    api: Api, owner_connection: asyncpg.Connection, database_url: str
) -> None:
    account = await api.signup()
    holder = await hold_key(
        database_url, account.merchant_id, "undone", completed=True, locked_at=None
    )
    try:
        request = asyncio.create_task(post(api.http, account.secret_key, "undone"))
        await asyncio.sleep(0.5)
        assert not request.done()
        await holder.execute("ROLLBACK")
        response = await asyncio.wait_for(request, 10)
    finally:
        await holder.close()
    assert response.status_code == 200, response.text
    assert "idempotent-replayed" not in response.headers
    assert response.json()["status"] == "processing"
    assert await written(owner_connection) == (1, 1, 2, 1)
    stored = await owner_connection.fetchrow(
        "SELECT response_status, response_body, locked_at FROM idempotency_keys"
    )
    assert stored["response_status"] == 200
    assert orjson.loads(stored["response_body"]) == response.json()
    assert stored["locked_at"] is None


async def test_a_live_claim_of_the_session_path_still_answers_409(
    api: Api, owner_connection: asyncpg.Connection, database_url: str
) -> None:
    account = await api.signup()
    holder = await hold_key(
        database_url,
        account.merchant_id,
        "locked",
        completed=False,
        locked_at=dt.datetime.now(dt.UTC),
    )
    await holder.execute("COMMIT")
    await holder.close()
    response = await post(api.http, account.secret_key, "locked")
    assert_error(response, 409, code="idempotency_key_in_use")
    assert await written(owner_connection) == (0, 0, 0, 0)


async def test_a_stale_claim_is_taken_over(
    api: Api, owner_connection: asyncpg.Connection, database_url: str
) -> None:
    account = await api.signup()
    holder = await hold_key(
        database_url,
        account.merchant_id,
        "stale",
        completed=False,
        locked_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )
    await holder.execute("COMMIT")
    await holder.close()
    response = await post(api.http, account.secret_key, "stale")
    assert response.status_code == 200, response.text
    assert await written(owner_connection) == (1, 1, 2, 1)
    again = await post(api.http, account.secret_key, "stale")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == response.json()


async def test_an_error_is_stored_for_the_key_with_nothing_written(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    body = {**BODY, "customer": "cus_nope"}
    first = await post(api.http, account.secret_key, "missing", body)
    assert_error(first, 404, code="resource_missing", param="customer")
    again = await post(api.http, account.secret_key, "missing", body)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await written(owner_connection) == (0, 0, 0, 0)


async def test_invalid_parameters_release_the_key(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    for invalid in ({**BODY, "amount": 5}, {**BODY, "amount": "many"}, {**BODY, "phone": "+33"}):
        response = await post(api.http, account.secret_key, "fix-me", invalid)
        assert response.status_code == 400, response.text
    assert await owner_connection.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    fixed = await post(api.http, account.secret_key, "fix-me")
    assert fixed.status_code == 200, fixed.text
    assert await written(owner_connection) == (1, 1, 2, 1)


async def test_a_taken_reference_releases_the_key(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    assert (await post(api.http, account.secret_key, "a", {**BODY, "reference": "r"})).is_success
    taken = await post(api.http, account.secret_key, "b", {**BODY, "reference": "r"})
    assert_error(taken, 400, code="reference_taken", param="reference")
    assert await written(owner_connection) == (1, 1, 2, 1)
    assert await owner_connection.fetchval("SELECT count(*) FROM idempotency_keys") == 1


async def test_the_key_answers_before_the_parameters_are_judged(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    """As when keys were claimed before the work: a key used with other parameters is an
    `idempotency_error`, even when those parameters are invalid too."""
    account = await api.signup()
    assert (await post(api.http, account.secret_key, "used")).status_code == 200
    for other in ({**BODY, "amount": 2000}, {**BODY, "amount": 5}, {**BODY, "amount": "x"}):
        response = await post(api.http, account.secret_key, "used", other)
        assert_error(response, 400, type_="idempotency_error", param="Idempotency-Key")
    assert await written(owner_connection) == (1, 1, 2, 1)


async def test_keys_are_scoped_to_the_merchant(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    first, second = await api.signup(), await api.signup()
    a = await post(api.http, first.secret_key, "shared")
    b = await post(api.http, second.secret_key, "shared")
    assert a.status_code == b.status_code == 200
    assert a.json()["id"] != b.json()["id"]
    assert "idempotent-replayed" not in b.headers
    rows = await owner_connection.fetch("SELECT merchant_id FROM payment_intents")
    assert {r["merchant_id"] for r in rows} == {first.merchant_id, second.merchant_id}
