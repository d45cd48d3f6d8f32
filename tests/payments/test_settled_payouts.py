"""Money that came in through the API goes out again: a payment to a simulator number succeeds,
its net settles after the plan's settlement delay — shortened the way `mboa up` shortens it
(`payments.local_settlement_delay_seconds`, mboa/dev/demo.py) — and a payout of part of it is
paid. Nothing is put on the ledger by hand. The scheduler's two ledger jobs (`ledger.settle`,
`ledger.expire_pending`) are run by hand, the settlement as if its delay had passed. The second
test is README's "A first API session", request by request."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from mboa.config import Settings
from mboa.dev.demo import shorten_default_settlement
from mboa.kit.time import utc_now
from mboa.ledger.service import ledger
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from tests.helpers import Api, bearer
from tests.ledger.conftest import assert_verified
from tests.payments.test_flow import wait_for
from tests.payouts.helpers import balance as available_and_reserved
from tests.payouts.test_flow import settled
from tests.refunds.test_flow import wait_refund

pytestmark = pytest.mark.usefixtures("ledger_db")

README_DELAY = 6


@pytest.fixture
async def default_settlement(db: Database) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    """Sets the default plans' settlement delay as `mboa up` does; the ledger_db fixture puts
    back 1 day for the next test, and so does this one, for tests that do without it."""

    async def shorten(delay: int) -> None:
        async with db.platform_transaction() as session:
            await shorten_default_settlement(session, delay)

    yield shorten
    await shorten(86_400)


async def ledger_jobs(db: Database, *, after_seconds: float = 0) -> tuple[int, int]:
    """What the `ledger.settle` and `ledger.expire_pending` cron jobs do: (collections settled,
    holds released). `after_seconds` runs the settlement as if that much later."""
    settled = await ledger.settle_due(
        db.platform_transaction, now=utc_now() + dt.timedelta(seconds=after_seconds)
    )
    async with db.platform_transaction() as session:
        released = await ledger.expire_due(session)
    return settled, released


async def balance(api: Api, key: str) -> dict[str, int]:
    body = (await api.http.get("/v1/balance", headers=bearer(key))).json()

    def xaf(rows: list[dict[str, Any]]) -> int:
        return sum(r["amount"] for r in rows if r["currency"] == "XAF")

    return {kind: xaf(body[kind]) for kind in ("pending", "available", "reserved")}


async def balance_types(api: Api, key: str) -> list[str]:
    listed = await api.http.get("/v1/balance_transactions", headers=bearer(key))
    return sorted(t["type"] for t in listed.json()["data"])


async def test_a_settled_payment_is_paid_out(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
    default_settlement: Callable[[int], Awaitable[None]],
) -> None:
    delay = settings.payments.local_settlement_delay_seconds  # 60 s under `mboa up`
    await default_settlement(delay)
    account = await api.signup()
    key = account.secret_key
    created = await api.http.post(
        "/v1/payment_intents",
        json={"amount": 10_000, "currency": "XAF", "phone": "+237670000000"},
        headers=bearer(key),
    )
    assert created.status_code == 200, created.text
    await wait_for(api.http, key, created.json()["id"], {"succeeded"})
    assert await balance(api, key) == {"pending": 9800, "available": 0, "reserved": 0}
    payout = {"amount": 6000, "currency": "XAF", "destination": {"phone": "+237690000000"}}
    # Pending money cannot be paid out; nothing is reserved for the refusal.
    refused = await api.http.post("/v1/payouts", json=payout, headers=bearer(key))
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "amount"
    assert await ledger_jobs(db) == (0, 0)  # not due yet
    assert await ledger_jobs(db, after_seconds=delay + 1) == (1, 0)
    assert await balance(api, key) == {"pending": 0, "available": 9800, "reserved": 0}
    wallet = sims.orange.wallet("690000000")
    sent = await api.http.post("/v1/payouts", json=payout, headers=bearer(key))
    assert sent.status_code == 200, sent.text
    assert await available_and_reserved(api.http, key) == (3800, 6000)
    done = await settled(api, key, sent.json()["id"])
    assert done["status"] == "paid", done
    assert await balance(api, key) == {"pending": 0, "available": 3800, "reserved": 0}
    assert sims.orange.wallet("690000000") == wallet + 6000
    assert await balance_types(api, key) == ["payment", "payout"]
    await assert_verified(db, settings)


async def test_the_readme_api_session_refunds_then_pays_out_after_settlement(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
    default_settlement: Callable[[int], Awaitable[None]],
) -> None:
    """README.md, "A first API session": the same paths, bodies and Idempotency-Keys. The
    payment's net is held back by the refund until the payment's own settlement time, which
    only the clock brings (the ledger refuses to expire a hold early): a 6 s delay here."""
    await default_settlement(README_DELAY)
    account = await api.signup()
    key = account.secret_key
    wallet = sims.mtn.wallet("237670000000")
    created = await api.http.post(
        "/v1/payment_intents",
        json={"amount": 1500, "currency": "XAF", "phone": "670000000", "reference": "order-42"},
        headers={**bearer(key), "Idempotency-Key": "order-42"},
    )
    assert created.status_code == 200, created.text
    pi = created.json()["id"]
    done = await wait_for(api.http, key, pi, {"succeeded"})
    assert (done["amount_received"], done["fee"], done["net"]) == (1500, 30, 1470)
    assert await balance(api, key) == {"pending": 1470, "available": 0, "reserved": 0}

    refunded = await api.http.post(
        "/v1/refunds",
        json={"payment_intent": pi, "amount": 500, "reason": "requested_by_customer"},
        headers={**bearer(key), "Idempotency-Key": "refund-42"},
    )
    assert refunded.status_code == 200, refunded.text
    listed = await api.http.get("/v1/refunds", params={"payment_intent": pi}, headers=bearer(key))
    assert [r["id"] for r in listed.json()["data"]] == [refunded.json()["id"]]
    refund = await wait_refund(api.http, key, refunded.json()["id"], {"succeeded", "failed"})
    assert refund["status"] == "succeeded", refund
    # 500 less its 10 of fee was drawn from the payment's pending net; the rest waits.
    assert await balance(api, key) == {"pending": 980, "available": 0, "reserved": 0}

    body = {"amount": 900, "currency": "XAF", "destination": {"phone": "670000000"}}
    headers = {**bearer(key), "Idempotency-Key": "payout-1"}
    refused = await api.http.post("/v1/payouts", json=body, headers=bearer(key))
    assert refused.status_code == 400, refused.text  # "a payout above the available balance"

    # The refund settled the payment early and held the rest back until the payment's
    # settlement time, when the expiry job releases the hold; nothing is left to settle.
    for _ in range(int((README_DELAY + 10) / 0.2)):
        jobs = await ledger_jobs(db)
        if jobs != (0, 0):
            break
        await asyncio.sleep(0.2)
    assert jobs == (0, 1)
    assert await balance(api, key) == {"pending": 0, "available": 980, "reserved": 0}

    sent = await api.http.post("/v1/payouts", json=body, headers=headers)
    assert sent.status_code == 200, sent.text
    payout = await settled(api, key, sent.json()["id"])
    assert payout["status"] == "paid", payout
    latest = await api.http.get("/v1/payouts", params={"limit": 1}, headers=bearer(key))
    assert [p["id"] for p in latest.json()["data"]] == [payout["id"]]
    assert await balance(api, key) == {"pending": 0, "available": 80, "reserved": 0}
    # The payer's wallet at the simulator saw each franc: -1500, +500, +900.
    assert sims.mtn.wallet("237670000000") == wallet - 1500 + 500 + 900
    assert "payout" in await balance_types(api, key)
    await assert_verified(db, settings)
