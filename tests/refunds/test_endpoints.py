"""Refunds through the real API without waiting for the operator: what a request refuses
(nothing written) and who may call it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from mboa.worker import TaskContext
from tests.helpers import Api, assert_error, bearer
from tests.payments.test_flow import create
from tests.refunds.test_flow import paid, refund

pytestmark = pytest.mark.usefixtures("ledger_db")


async def counts(owner: asyncpg.Connection) -> tuple[int, int, int]:
    row = await owner.fetchrow(
        "SELECT (SELECT count(*) FROM refunds), (SELECT count(*) FROM ledger_transactions"
        " WHERE type = 'refund'), (SELECT count(*) FROM outbox)"
    )
    assert row is not None
    return row[0], row[1], row[2]


async def test_bad_input_names_the_param_and_writes_nothing(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await paid(api, key, "+237670000000")
    waiting = (await create(api.http, key))["id"]  # no phone: nothing received
    before = await counts(owner_connection)
    cases = [
        ({"payment_intent": intent["id"], "amount": 0}, 400, "refund_amount_invalid", "amount"),
        ({"payment_intent": intent["id"], "amount": -5}, 400, "refund_amount_invalid", "amount"),
        (
            {"payment_intent": intent["id"], "amount": 1501},
            400,
            "refund_amount_exceeds_refundable",
            "amount",
        ),
        ({"payment_intent": waiting}, 409, "payment_intent_not_refundable", "payment_intent"),
        ({"payment_intent": "pi_nope"}, 404, "resource_missing", "payment_intent"),
        ({"payment_intent": intent["id"], "amount": "100"}, 400, None, "amount"),
        ({"payment_intent": intent["id"], "reason": "bored"}, 400, None, "reason"),
        ({"payment_intent": intent["id"], "reason": "expired_uncaptured"}, 400, None, "reason"),
        ({"payment_intent": intent["id"], "surprise": 1}, 400, None, "surprise"),
        ({"amount": 100}, 400, None, "payment_intent"),
    ]
    for body, status, code, param in cases:
        response = await refund(api.http, key, **body)
        assert_error(response, status, code=code, param=param)
    assert await counts(owner_connection) == before


async def test_permissions(api: Api, worker: TaskContext) -> None:
    account = await api.signup()
    intent = await paid(api, account.secret_key, "+237670000000")
    read_only = await api.create_key(account, type="restricted", scopes=["refunds:read"])
    headers = bearer(read_only["secret"])
    assert (await api.http.get("/v1/refunds", headers=headers)).status_code == 200
    denied = await refund(api.http, read_only["secret"], payment_intent=intent["id"])
    assert_error(denied, 403)
    writer = await api.create_key(account, type="restricted", scopes=["refunds:write"])
    allowed = await refund(api.http, writer["secret"], payment_intent=intent["id"], amount=100)
    assert allowed.status_code == 200, allowed.text
    publishable = await api.http.get("/v1/refunds", headers=bearer(account.publishable_key))
    assert publishable.status_code in (401, 403)
    unknown = await api.http.get("/v1/refunds", params={"intent": "x"}, headers=headers)
    assert_error(unknown, 400, code="parameter_unknown")


async def test_idempotency_key_replays_the_creation(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    intent = await paid(api, account.secret_key, "+237670000000")
    headers = {**bearer(account.secret_key), "Idempotency-Key": "refund-1"}
    body = {"payment_intent": intent["id"], "amount": 500}
    first = await api.http.post("/v1/refunds", json=body, headers=headers)
    second = await api.http.post("/v1/refunds", json=body, headers=headers)
    assert first.status_code == second.status_code == 200, first.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert first.json() == second.json()
    assert int(await owner_connection.fetchval("SELECT count(*) FROM refunds")) == 1


async def test_concurrent_refunds_of_one_payment_never_exceed_what_it_received(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    intent = await paid(api, account.secret_key, "+237670000000")
    responses = await asyncio.gather(
        *(
            refund(api.http, account.secret_key, payment_intent=intent["id"], amount=1000)
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]
    for response in responses:
        if response.status_code == 400:
            assert_error(response, 400, code="refund_amount_exceeds_refundable", param="amount")
    refunded = await owner_connection.fetchval(
        "SELECT amount_refunded FROM payment_intents WHERE id = $1", intent["id"]
    )
    assert refunded == 1000
