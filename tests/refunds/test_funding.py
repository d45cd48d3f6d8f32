"""A refund draws on its payment's pending funds for exactly what the available balance lacks:
it never makes the rest of that payment's net available before its settlement time (the
"refund 1 XAF to skip the settlement delay" loophole; docs/refunds.md, "Funding")."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from mboa.config import Settings
from mboa.ledger.service import ledger
from mboa.postgres import Database
from mboa.worker import TaskContext
from tests.helpers import Api, assert_error, bearer
from tests.ledger.conftest import assert_verified
from tests.payments.test_flow import balance
from tests.refunds.test_flow import paid, refund, wait_refund

pytestmark = pytest.mark.usefixtures("ledger_db")


async def test_a_tiny_refund_of_a_fresh_payment_does_not_make_its_net_available_early(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await paid(api, key, "+237670000000")  # 1500: fee 30, net 1470, pending
    assert await balance(api.http, key) == {"pending": 1470, "available": 0}

    one = await refund(api.http, key, payment_intent=intent["id"], amount=1)
    assert one.status_code == 200, one.text
    assert one.json()["fee_returned"] == 0  # 30 * 1 / 1500, rounded down
    # 1 XAF drawn from the payment's pending funds and reserved; not a franc more available.
    assert await balance(api.http, key) == {"pending": 1469, "available": 0}
    await wait_refund(api.http, key, one.json()["id"], {"succeeded"})
    assert await balance(api.http, key) == {"pending": 1469, "available": 0}
    payout = await api.http.post(
        "/v1/payouts",
        json={"amount": 1000, "currency": "XAF", "destination": {"phone": "+237670000000"}},
        headers=bearer(key),
    )
    assert_error(payout, 400, code="balance_insufficient", param="amount")

    # The rest of the net is held back until the payment's own settlement time.
    available_on = await owner_connection.fetchval(
        "SELECT available_on FROM ledger_transactions WHERE source = $1 AND type = 'payment'",
        intent["id"],
    )
    holds = await owner_connection.fetch(
        "SELECT t.expires_at FROM ledger_transactions t"
        " JOIN ledger_open_pendings o ON o.transaction_id = t.id WHERE t.type = 'settlement'"
    )
    assert [h["expires_at"] for h in holds] == [available_on]

    # A second refund draws on what is still pending, again for exactly its part.
    second = await refund(api.http, key, payment_intent=intent["id"], amount=500)
    assert second.status_code == 200, second.text
    assert second.json()["fee_returned"] == 10  # 30 * 501 // 1500 - 30 * 1 // 1500
    assert await balance(api.http, key) == {"pending": 979, "available": 0}
    await wait_refund(api.http, key, second.json()["id"], {"succeeded"})
    assert await balance(api.http, key) == {"pending": 979, "available": 0}
    await assert_verified(db, settings)


async def test_a_refund_takes_the_available_balance_first_and_only_the_rest_from_pending(
    api: Api,
    worker: TaskContext,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    key = account.secret_key
    first = await paid(api, key, "+237670000000", amount=1000)  # net 980
    async with db.platform_transaction() as session:
        collection = await session.scalar(
            text("SELECT id FROM ledger_transactions WHERE source = :s AND type = 'payment'"),
            {"s": first["id"]},
        )
        assert await ledger.settle_now(session, collection) is not None
    second = await paid(api, key, "+237670000000", amount=2000)  # net 1960, pending
    assert await balance(api.http, key) == {"pending": 1960, "available": 980}
    # 1500 (fee share 30): 980 from available, the missing 490 drawn from the pending net.
    created = await refund(api.http, key, payment_intent=second["id"], amount=1500)
    assert created.status_code == 200, created.text
    assert created.json()["fee_returned"] == 30
    assert await balance(api.http, key) == {"pending": 1470, "available": 0}
    await wait_refund(api.http, key, created.json()["id"], {"succeeded"})
    assert await balance(api.http, key) == {"pending": 1470, "available": 0}
    await assert_verified(db, settings)
