"""Refunds end to end: the real API, a real worker, the simulators (their magic numbers and
callbacks to our callback route), the ledger and the events (docs/refunds.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from mboa.config import Settings
from mboa.ledger.posting import SourceType
from mboa.ledger.service import ledger
from mboa.payments.tasks import janitor
from mboa.postgres import Database
from mboa.refunds.tasks import check_pending, sync_disbursement
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from tests.helpers import Api, assert_error, bearer
from tests.ledger.conftest import assert_verified
from tests.payments.test_flow import balance, create, event_types, wait_for

pytestmark = pytest.mark.usefixtures("ledger_db")


async def paid(api: Api, key: str, phone: str, amount: int = 1500) -> dict[str, Any]:
    intent = await create(api.http, key, phone=phone, amount=amount)
    return await wait_for(api.http, key, intent["id"], {"succeeded"})


async def refund(http: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await http.post("/v1/refunds", json=body, headers=bearer(key))


async def wait_refund(
    http: httpx.AsyncClient, key: str, refund_id: str, statuses: set[str], within: float = 10.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        response = await http.get(f"/v1/refunds/{refund_id}", headers=bearer(key))
        assert response.status_code == 200, response.text
        body = dict(response.json())
        if body["status"] in statuses:
            return body
        if loop.time() > deadline:
            raise AssertionError(f"still {body['status']} after {within}s: {body}")
        await asyncio.sleep(0.05)


async def intent_of(http: httpx.AsyncClient, key: str, intent_id: str) -> dict[str, Any]:
    return dict((await http.get(f"/v1/payment_intents/{intent_id}", headers=bearer(key))).json())


async def sim_transfers(base_url: str, msisdn: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        rows = (await client.get("/_sim/transactions", params={"msisdn": msisdn})).json()
    return [row for row in rows if row["kind"] == "disbursement"]


@pytest.mark.parametrize(
    ("phone", "msisdn", "sim"),
    [
        ("+237670000000", "237670000000", "mtn_url"),
        ("+237690000000", "690000000", "orange_url"),
    ],
    ids=["mtn", "orange"],
)
async def test_a_full_refund_right_after_the_sale_draws_on_its_pending_funds(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
    phone: str,
    msisdn: str,
    sim: str,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await paid(api, key, phone)
    assert await balance(api.http, key) == {"pending": 1470, "available": 0}
    created = await refund(api.http, key, payment_intent=intent["id"], reason="duplicate")
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["status"] == "pending"
    assert body["amount"] == 1500  # the rest of what was received
    assert body["fee_returned"] == 30
    assert body["reason"] == "duplicate"
    assert body["destination"]["provider"] == intent["latest_attempt"]["provider"]
    assert (await intent_of(api.http, key, intent["id"]))["amount_refunded"] == 1500
    done = await wait_refund(api.http, key, body["id"], {"succeeded"})
    assert done["operator_reference"]
    assert done["operator_transaction_id"]
    # The payment was settled early for it, then the whole net went back to the payer.
    assert await balance(api.http, key) == {"pending": 0, "available": 0}
    transfers = await sim_transfers(getattr(sims, sim), msisdn)
    assert [(t["amount"], t["state"]) for t in transfers] == [(1500, "succeeded")]
    assert await event_types(owner_connection, body["id"]) == [
        "refund.created",
        "refund.succeeded",
    ]
    # Nothing left to refund.
    again = await refund(api.http, key, payment_intent=intent["id"])
    assert_error(again, 400, code="refund_amount_exceeds_refundable", param="payment_intent")
    await assert_verified(db, settings)


async def test_partial_refunds_up_to_what_was_received(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await paid(api, key, "+237670000000", amount=1000)  # fee 20, net 980
    first = (await refund(api.http, key, payment_intent=intent["id"], amount=333)).json()
    assert first["fee_returned"] == 6  # 20 * 333 / 1000, rounded down
    await wait_refund(api.http, key, first["id"], {"succeeded"})
    over = await refund(api.http, key, payment_intent=intent["id"], amount=668)
    assert_error(over, 400, code="refund_amount_exceeds_refundable", param="amount")
    zero = await refund(api.http, key, payment_intent=intent["id"], amount=0)
    assert_error(zero, 400, code="refund_amount_invalid", param="amount")
    second = (await refund(api.http, key, payment_intent=intent["id"], amount=667)).json()
    assert second["fee_returned"] == 14  # the rest of the fee: 6 + 14 = 20
    await wait_refund(api.http, key, second["id"], {"succeeded"})
    done = await intent_of(api.http, key, intent["id"])
    assert done["amount_refunded"] == 1000
    assert await balance(api.http, key) == {"pending": 0, "available": 0}
    assert int(await owner_connection.fetchval("SELECT count(*) FROM refunds")) == 2
    listed = await api.http.get(
        "/v1/refunds", params={"payment_intent": intent["id"]}, headers=bearer(key)
    )
    assert [r["id"] for r in listed.json()["data"]] == [second["id"], first["id"]]
    page = await api.http.get(
        "/v1/refunds", params={"limit": 1, "starting_after": second["id"]}, headers=bearer(key)
    )
    assert [r["id"] for r in page.json()["data"]] == [first["id"]]
    failed = await api.http.get("/v1/refunds", params={"status": "failed"}, headers=bearer(key))
    assert failed.json()["data"] == []
    await assert_verified(db, settings)


async def test_a_refund_whose_fee_share_would_be_its_whole_amount_still_works(
    api: Api,
    worker: TaskContext,
    db: Database,
    settings: Settings,
) -> None:
    """1 XAF after 49 XAF of a 1 000 XAF payment (fee 20): the proportional share would give
    back the whole franc, leaving the merchant nothing to reserve (it was a 500). The merchant's
    part is at least 1; the later refunds give back the rest of the fee."""
    account = await api.signup()
    key = account.secret_key
    intent = await paid(api, key, "+237670000000", amount=1000)  # fee 20, net 980
    parts = []
    for amount in (49, 1, 950):
        response = await refund(api.http, key, payment_intent=intent["id"], amount=amount)
        assert response.status_code == 200, response.text
        parts.append(await wait_refund(api.http, key, response.json()["id"], {"succeeded"}))
    assert [p["fee_returned"] for p in parts] == [0, 0, 20]
    assert await balance(api.http, key) == {"pending": 0, "available": 0}
    await assert_verified(db, settings)


async def test_a_failed_refund_releases_the_funds(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    """Magic number 13 waits for the phone page: the payer approves the payment, and the
    refund's transfer to the same wallet is rejected there."""
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000013")
    async with httpx.AsyncClient(base_url=sims.mtn_url) as sim:
        for _ in range(200):
            rows = (await sim.get("/_sim/transactions", params={"msisdn": "237670000013"})).json()
            if rows:
                break
            await asyncio.sleep(0.05)
        await sim.post(f"/_sim/transactions/{rows[0]['id']}/approve")
        await wait_for(api.http, key, intent["id"], {"succeeded"})
        body = (await refund(api.http, key, payment_intent=intent["id"], amount=1000)).json()
        assert body["status"] == "pending"
        # 1000 - 20 of fee returned is reserved from the payment's pending funds; the rest of
        # its net (490) stays pending: nothing became available before its settlement time.
        assert await balance(api.http, key) == {"pending": 490, "available": 0}
        for _ in range(200):
            transfers = await sim_transfers(sims.mtn_url, "237670000013")
            if transfers:
                break
            await asyncio.sleep(0.05)
        await sim.post(f"/_sim/transactions/{transfers[0]['id']}/reject")
    failed = await wait_refund(api.http, key, body["id"], {"failed"})
    assert failed["failure_reason"] == "operator_refused"
    assert failed["failed_at"] is not None
    # The reservation came back to where it was drawn from: the payment's net is pending again.
    assert await balance(api.http, key) == {"pending": 1470, "available": 0}
    assert (await intent_of(api.http, key, intent["id"]))["amount_refunded"] == 0
    assert await event_types(owner_connection, body["id"]) == ["refund.created", "refund.failed"]
    # A late repeat of the answer (a second callback, a status read) changes nothing.
    disbursement = await owner_connection.fetchval(
        "SELECT disbursement_id FROM refunds WHERE id = $1", body["id"]
    )
    assert await sync_disbursement(worker, {"disbursement_id": disbursement}) == "failed"
    assert await check_pending(worker, {}) == 0
    assert await event_types(owner_connection, body["id"]) == ["refund.created", "refund.failed"]
    assert await balance(api.http, key) == {"pending": 1470, "available": 0}
    await assert_verified(db, settings)


async def test_a_refund_the_balance_cannot_cover_is_refused_and_writes_nothing(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await paid(api, key, "+237670000000", amount=1000)  # net 980
    # The payment settles, and a payout in flight holds its whole net.
    collection = await owner_connection.fetchval(
        "SELECT ledger_transaction_id FROM payment_intents WHERE id = $1", intent["id"]
    )
    async with db.platform_transaction() as session:
        assert await ledger.settle_now(session, collection) is not None
        held = await ledger.reserve(
            session,
            merchant_id=account.merchant_id,
            livemode=False,
            amount=980,
            currency="XAF",
            purpose=SourceType.payout,
            source="po_test",
            idempotency_key="po_test:reserve",
            expires_at=None,
        )
        assert held.ok
    assert await balance(api.http, key) == {"pending": 0, "available": 0}
    counts = "SELECT (SELECT count(*) FROM ledger_transactions), (SELECT count(*) FROM refunds),"
    counts += " (SELECT count(*) FROM outbox), (SELECT count(*) FROM events)"
    before = await owner_connection.fetchrow(counts)
    short = await refund(api.http, key, payment_intent=intent["id"], amount=100)
    assert_error(short, 400, code="refund_balance_insufficient", param="amount")
    assert await owner_connection.fetchrow(counts) == before
    assert (await intent_of(api.http, key, intent["id"]))["amount_refunded"] == 0
    await assert_verified(db, settings)


async def test_a_late_success_is_refunded_automatically(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    """docs/payments.md "Late successes": magic number 08 succeeds after our expiry; the money
    goes back to the payer at once, fee included."""
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000008")
    await asyncio.sleep(0.2)
    await owner_connection.execute("UPDATE payment_intents SET expires_at = now()")
    assert (await janitor(worker, {}))[0] == 1
    await wait_for(api.http, key, intent["id"], {"canceled"}, attempt_status="succeeded")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        listed = await api.http.get(
            "/v1/refunds", params={"payment_intent": intent["id"]}, headers=bearer(key)
        )
        rows = listed.json()["data"]
        if rows and rows[0]["status"] == "succeeded":
            break
        assert loop.time() < deadline, rows
        await asyncio.sleep(0.05)
    assert len(rows) == 1
    assert rows[0]["reason"] == "expired_uncaptured"
    assert rows[0]["amount"] == 1500
    assert rows[0]["fee_returned"] == 30
    after = await intent_of(api.http, key, intent["id"])
    assert after["status"] == "canceled"
    assert after["refund_due"] is False
    assert after["amount_refunded"] == 1500
    assert await balance(api.http, key) == {"pending": 0, "available": 0}
    transfers = await sim_transfers(sims.mtn_url, "237670000008")
    assert [t["amount"] for t in transfers] == [1500]
    await assert_verified(db, settings)


async def test_refund_routes_are_isolated_per_merchant_and_mode(
    api: Api, worker: TaskContext
) -> None:
    account, other = await api.signup(), await api.signup()
    key = account.secret_key
    intent = await paid(api, key, "+237670000000")
    body = (await refund(api.http, key, payment_intent=intent["id"], amount=100)).json()
    headers = bearer(other.secret_key)
    url = f"/v1/refunds/{body['id']}"
    assert_error(await api.http.get(url, headers=headers), 404, code="resource_missing")
    listed = await api.http.get("/v1/refunds", headers=headers)
    assert listed.json()["data"] == []
    stolen = await refund(api.http, other.secret_key, payment_intent=intent["id"], amount=100)
    assert_error(stolen, 404, param="payment_intent")
    # The same merchant in the other mode.
    await api.approve(account)
    live = (await api.create_key(account, livemode=True))["secret"]
    assert_error(await api.http.get(url, headers=bearer(live)), 404)
    assert (await api.http.get("/v1/refunds", headers=bearer(live))).json()["data"] == []
    live_refund = await refund(api.http, live, payment_intent=intent["id"], amount=100)
    assert_error(live_refund, 404, param="payment_intent")
    await wait_refund(api.http, key, body["id"], {"succeeded"})


@pytest.mark.parametrize(
    "phone",
    ["+237670000012", "+237690000012", "+237670000010"],
    ids=["mtn_transient_5xx", "orange_transient_5xx", "mtn_slow_answer"],
)
async def test_a_retry_resends_the_same_reference_and_refunds_once(
    api: Api,
    worker: TaskContext,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
    phone: str,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone=phone)
    await wait_for(api.http, key, intent["id"], {"succeeded"}, within=20)
    body = (await refund(api.http, key, payment_intent=intent["id"])).json()
    done = await wait_refund(api.http, key, body["id"], {"succeeded"}, within=20)
    engine = sims.mtn if done["destination"]["provider"] == "mtn_momo" else sims.orange
    # The operator holds one transfer for the refund, under the reference we stored.
    ours = [t for t in engine.transactions.values() if t.kind == "disbursement"]
    ours = [t for t in ours if t.external_id and t.external_id.startswith("rdsb_")]
    assert [(t.id, t.state) for t in ours] == [(done["operator_reference"], "succeeded")]
    assert await balance(api.http, key) == {"pending": 0, "available": 0}
    await assert_verified(db, settings)
