"""Operator reports that contradict a final state are recorded, counted and logged, never
re-posted (docs/disbursements.md, "Discrepancies"), driven through the simulators: a final
transfer is reported otherwise (`/_sim/transactions/{id}/contradict`) and the operator's
callback reaches the API."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from mboa.config import Settings
from mboa.payouts.service import payout as payout_service
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from tests.helpers import Api, bearer
from tests.ledger.conftest import assert_verified
from tests.payments.test_flow import balance, create, wait_for
from tests.payouts.helpers import balance as payout_balance
from tests.payouts.helpers import fund
from tests.payouts.test_flow import settled
from tests.refunds.test_flow import paid, refund, sim_transfers, wait_refund

pytestmark = pytest.mark.usefixtures("ledger_db")


def counted(provider: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "mboa_operator_discrepancies_total", {"provider": provider, "kind": kind}
    )
    return value or 0.0


async def contradict(base_url: str, reference: str, **report: Any) -> None:
    async with httpx.AsyncClient(base_url=base_url) as sim:
        response = await sim.post(f"/_sim/transactions/{reference}/contradict", json=report)
        assert response.status_code == 200, response.text


async def recorded(owner: asyncpg.Connection, object_id: str, within: float = 10.0) -> list[Any]:
    for _ in range(int(within / 0.05)):
        rows = await owner.fetch(
            "SELECT * FROM operator_discrepancies WHERE object_id = $1 ORDER BY id", object_id
        )
        if rows:
            return list(rows)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no discrepancy recorded for {object_id}")


async def test_a_paid_payout_reported_failed_later_is_recorded_and_not_reposted(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    key = account.secret_key
    available = await fund(db, account.merchant_id, 100_000)
    created = await api.http.post(
        "/v1/payouts",
        json={"amount": 6000, "currency": "XAF", "destination": {"phone": "+237670000000"}},
        headers=bearer(key),
    )
    assert created.status_code == 200, created.text
    payout = await settled(api, key, created.json()["id"], within=25)
    assert payout["status"] == "paid"
    journal = await owner_connection.fetchval("SELECT count(*) FROM ledger_transactions")
    before = counted("mtn_momo", "failed_after_success")

    await contradict(sims.mtn_url, payout["operator_reference"], state="failed")
    [row] = await recorded(owner_connection, payout["id"])
    dsb = await owner_connection.fetchval(
        "SELECT disbursement_id FROM payouts WHERE id = $1", payout["id"]
    )
    assert (row["kind"], row["provider"], row["transfer_id"]) == (
        "failed_after_success",
        "mtn_momo",
        dsb,
    )
    assert (row["our_status"], row["our_amount"], row["reported_status"]) == (
        "succeeded",
        6000,
        "failed",
    )
    assert row["operator_reference"] == payout["operator_reference"]
    assert row["reported_at"] is not None
    assert counted("mtn_momo", "failed_after_success") == before + 1
    # Money that moved on a wallet is final: nothing is re-posted, the payout stays paid.
    again = (await api.http.get(f"/v1/payouts/{payout['id']}", headers=bearer(key))).json()
    assert again["status"] == "paid"
    assert await payout_balance(api.http, key) == (available - 6000, 0)
    assert await owner_connection.fetchval("SELECT count(*) FROM ledger_transactions") == journal
    # The same report read again (a retried task, another callback) is one row, counted once.
    assert (
        await payout_service.sync(
            db, worker.providers, dsb, settings=worker.settings.payouts, recheck=True
        )
        == "failed"
    )
    assert len(await recorded(owner_connection, payout["id"])) == 1
    assert counted("mtn_momo", "failed_after_success") == before + 1
    # Without a callback's recheck, a read of a final transfer answers from our books.
    assert (
        await payout_service.sync(db, worker.providers, dsb, settings=worker.settings.payouts)
        == "succeeded"
    )
    await assert_verified(db, settings)


async def test_a_refund_reported_with_another_amount_is_recorded(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await paid(api, key, "+237670000000")
    created = (await refund(api.http, key, payment_intent=intent["id"], amount=700)).json()
    done = await wait_refund(api.http, key, created["id"], {"succeeded"})
    before = counted("mtn_momo", "amount_mismatch")

    await contradict(sims.mtn_url, done["operator_reference"], amount=7000)
    [row] = await recorded(owner_connection, created["id"])
    assert (row["kind"], row["our_amount"], row["reported_amount"]) == (
        "amount_mismatch",
        700,
        7000,
    )
    assert row["transfer_id"].startswith("rdsb_")
    assert counted("mtn_momo", "amount_mismatch") == before + 1
    after = (await api.http.get(f"/v1/refunds/{created['id']}", headers=bearer(key))).json()
    assert (after["status"], after["amount"]) == ("succeeded", 700)
    assert [t["amount"] for t in await sim_transfers(sims.mtn_url, "237670000000")] == [7000]
    await assert_verified(db, settings)


async def test_a_payment_the_operator_reports_with_another_amount_is_recorded(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    """Collections follow the same rule: our amount is posted, the operator's recorded."""
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000013")  # waits for the phone page
    async with httpx.AsyncClient(base_url=sims.mtn_url) as sim:
        for _ in range(200):
            rows = (await sim.get("/_sim/transactions", params={"msisdn": "237670000013"})).json()
            if rows:
                break
            await asyncio.sleep(0.05)
        before = counted("mtn_momo", "amount_mismatch")
        await contradict(sims.mtn_url, rows[0]["id"], amount=1400)
        await sim.post(f"/_sim/transactions/{rows[0]['id']}/approve")
    done = await wait_for(api.http, key, intent["id"], {"succeeded"})
    assert done["amount_received"] == 1500
    [row] = await recorded(owner_connection, intent["id"])
    assert (row["kind"], row["our_amount"], row["reported_amount"]) == (
        "amount_mismatch",
        1500,
        1400,
    )
    assert row["transfer_id"] == done["latest_attempt"]["id"]
    assert counted("mtn_momo", "amount_mismatch") == before + 1
    assert await balance(api.http, key) == {"pending": 1470, "available": 0}
    await assert_verified(db, settings)
