"""Shared by the payout tests: money on a merchant's available balance, counts, requests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import httpx

from mboa.kit.time import utc_now
from mboa.ledger.service import ledger
from mboa.postgres import Database
from tests.helpers import bearer

MTN_OK = "+237670000000"


async def fund(db: Database, merchant_id: str, amount: int, *, livemode: bool = False) -> int:
    """Collect `amount` through MTN on the ledger, then settle it (as `ledger.settle` does after
    the delay): returns what became available (the amount less the fee)."""
    async with db.platform_transaction() as session:
        posted = await ledger.post_collection(
            session,
            merchant_id=merchant_id,
            livemode=livemode,
            operator="mtn_momo",
            amount=amount,
            currency="XAF",
            source=f"pi_test_{uuid.uuid4().hex[:12]}",
            idempotency_key=f"test-collection:{uuid.uuid4()}",
        )
        assert posted.ok, posted.outcome
    async with db.platform_transaction() as session:
        assert await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=100)) >= 1
    return amount - (amount * 200 + 5_000) // 10_000  # the default plan: 2 %, half up


async def balance(http: httpx.AsyncClient, key: str) -> tuple[int, int]:
    """(available, reserved) in XAF."""
    response = await http.get("/v1/balance", headers=bearer(key))
    assert response.status_code == 200, response.text
    body = response.json()

    def xaf(rows: list[dict[str, Any]]) -> int:
        return sum(r["amount"] for r in rows if r["currency"] == "XAF")

    return xaf(body["available"]), xaf(body["reserved"])


async def create(http: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"amount": 5000, "currency": "XAF", "destination": {"phone": MTN_OK}}
    payload.update(body)
    return await http.post("/v1/payouts", json=payload, headers=bearer(key))


async def counts(owner: asyncpg.Connection) -> tuple[int, int, int, int]:
    row = await owner.fetchrow(
        "SELECT (SELECT count(*) FROM payouts), (SELECT count(*) FROM disbursements),"
        " (SELECT count(*) FROM events), (SELECT count(*) FROM outbox)"
    )
    assert row is not None
    return row[0], row[1], row[2], row[3]
