"""A refund writes one audit row (docs/audit.md) in its own transaction; a payment does not."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from mboa.worker import TaskContext
from tests.helpers import Api
from tests.refunds.test_flow import paid, refund

pytestmark = pytest.mark.usefixtures("ledger_db")


async def test_a_refund_is_recorded_a_payment_is_not(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    intent = await paid(api, account.secret_key, "+237670000000")
    assert await owner_connection.fetchval(
        "SELECT count(*) FROM audit_log WHERE action LIKE 'payment%' OR target_id = $1",
        intent["id"],
    ) == 0  # fmt: skip
    created = await refund(api.http, account.secret_key, payment_intent=intent["id"], amount=500)
    assert created.status_code == 200, created.text
    rows = await owner_connection.fetch("SELECT * FROM audit_log WHERE action = 'refund.created'")
    assert len(rows) == 1
    row = rows[0]
    assert (row["target_type"], row["target_id"]) == ("refund", created.json()["id"])
    assert (row["actor_type"], row["merchant_id"], row["livemode"]) == (
        "api_key", account.merchant_id, False
    )  # fmt: skip
    assert row["request_id"] == created.headers["x-request-id"]
    after = orjson.loads(row["after"])
    assert after["amount"] == 500
    assert after["payment_intent"] == intent["id"]
    assert "670000000" not in row["after"]  # the destination number keeps its last digits only
