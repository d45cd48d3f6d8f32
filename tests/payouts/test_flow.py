"""Payouts end to end: the real API, a real worker (relay + BullMQ), the real simulators and
their callbacks to the API, the ledger. Magic numbers: docs/sandbox.md."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from mboa.config import Settings
from mboa.payouts.service import payout as payout_service
from mboa.postgres import Database
from mboa.providers.registry import ProviderRegistry
from mboa.simulator.run import RunningSimulators
from mboa.worker.run import run_worker
from tests.helpers import Api, bearer
from tests.ledger.conftest import assert_verified
from tests.payouts.helpers import balance, create, fund


async def settled(api: Api, key: str, payout_id: str, within: float = 15.0) -> dict[str, Any]:
    """Poll the payout (as an integration does) until it is final."""
    body: dict[str, Any] = {}
    for _ in range(int(within / 0.1)):
        response = await api.http.get(f"/v1/payouts/{payout_id}", headers=bearer(key))
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] in ("paid", "failed", "canceled"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"payout still {body.get('status')}: {body}")


async def event_types(owner: asyncpg.Connection, object_id: str) -> list[str]:
    rows = await owner.fetch("SELECT type FROM events WHERE object_id = $1 ORDER BY id", object_id)
    return [r["type"] for r in rows]


def transfers(sims: RunningSimulators, operator: str) -> list[Any]:
    engine = sims.mtn if operator == "mtn" else sims.orange
    return [tx for tx in engine.transactions.values() if tx.kind != "collection"]


@pytest.mark.parametrize(
    ("phone", "operator", "msisdn"),
    [
        ("+237670000000", "mtn", "237670000000"),
        ("+237690000000", "orange", "690000000"),
        # The first transfer is processed but answered after our timeout; the retry re-sends the
        # same reference (MTN: 409, then a status read; Orange: a status read before `pay`).
        ("+237670000010", "mtn", "237670000010"),
        ("+237690000010", "orange", "690000010"),
        # The first transfer is a 503, the retry goes through.
        ("+237670000012", "mtn", "237670000012"),
    ],
)
async def test_a_payout_is_paid_once_and_leaves_the_ledger_once(
    api: Api,
    db: Database,
    sims: RunningSimulators,
    worker: Settings,
    owner_connection: asyncpg.Connection,
    settings: Settings,
    phone: str,
    operator: str,
    msisdn: str,
) -> None:
    account = await api.signup()
    available = await fund(db, account.merchant_id, 100_000)
    engine = sims.mtn if operator == "mtn" else sims.orange
    wallet_before = engine.wallet(msisdn)
    created = await create(api.http, account.secret_key, amount=6000, destination={"phone": phone})
    assert created.status_code == 200, created.text
    payout = await settled(api, account.secret_key, created.json()["id"], within=25)
    assert payout["status"] == "paid", payout
    assert payout["paid_at"] is not None
    assert payout["operator_transaction_id"]
    assert await balance(api.http, account.secret_key) == (available - 6000, 0)
    assert engine.wallet(msisdn) == wallet_before + 6000
    sent = [tx for tx in transfers(sims, operator) if tx.external_id.startswith("dsb_")]
    assert len(sent) == 1
    assert sent[0].id == payout["operator_reference"]
    if phone.endswith("00") and operator == "mtn":
        # The operator's callback reached the API and its confirmation led to our status read.
        dsb_id = await owner_connection.fetchval(
            "SELECT disbursement_id FROM payouts WHERE id = $1", payout["id"]
        )
        stored = await owner_connection.fetchval(
            "SELECT count(*) FROM provider_events WHERE attempt_id = $1", dsb_id
        )
        assert stored >= 1
        synced = await owner_connection.fetchval(
            "SELECT count(*) FROM outbox WHERE task = 'payouts.sync_disbursement'"
        )
        assert synced >= 1
    if operator == "mtn" and phone[-2:] in ("10", "12"):
        posts = [r for r in engine.requests if r.method == "POST" and r.path.endswith("/transfer")]
        assert len(posts) >= 2  # the retry happened, with the same X-Reference-Id
        assert {r.headers.get("x-reference-id") for r in posts} == {sent[0].id}
    assert await event_types(owner_connection, payout["id"]) == [
        "payout.created",
        "payout.updated",
        "payout.paid",
    ]
    # A late duplicate read changes nothing.
    dsb = await owner_connection.fetchval(
        "SELECT disbursement_id FROM payouts WHERE id = $1", payout["id"]
    )
    providers = ProviderRegistry(worker.providers)
    try:
        again = await payout_service.sync(db, providers, dsb, settings=worker.payouts)
    finally:
        await providers.aclose()
    assert again == "succeeded"
    assert await balance(api.http, account.secret_key) == (available - 6000, 0)
    assert len(await event_types(owner_connection, payout["id"])) == 3
    await assert_verified(db, settings)


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("+237670000014", "destination_limit_reached"),  # MTN: PAYER_LIMIT_REACHED
        ("+237690000014", "destination_limit_reached"),  # Orange: 417 at cashin/pay
        ("+237670000002", "operator_refused"),  # MTN: rejected
        # Orange has no account-holder check: its transfer finds no beneficiary.
        ("+237690000011", "destination_not_found"),
    ],
)
async def test_a_payout_the_operator_refuses_fails_and_releases_the_funds(
    api: Api,
    db: Database,
    sims: RunningSimulators,
    worker: Settings,
    owner_connection: asyncpg.Connection,
    settings: Settings,
    phone: str,
    code: str,
) -> None:
    account = await api.signup()
    available = await fund(db, account.merchant_id, 100_000)
    created = await create(api.http, account.secret_key, amount=4000, destination={"phone": phone})
    assert created.status_code == 200, created.text
    assert await balance(api.http, account.secret_key) == (available - 4000, 4000)
    payout = await settled(api, account.secret_key, created.json()["id"])
    assert payout["status"] == "failed", payout
    assert payout["failure_code"] == code
    assert payout["failure_message"]
    assert payout["failed_at"] is not None
    assert await balance(api.http, account.secret_key) == (available, 0)
    types = await event_types(owner_connection, payout["id"])
    assert types[0] == "payout.created"
    assert types[-1] == "payout.failed"
    txns = await api.http.get(
        "/v1/balance_transactions",
        params={"source": payout["id"]},
        headers=bearer(account.secret_key),
    )
    assert sorted(t["type"] for t in txns.json()["data"]) == ["payout", "payout_failure"]
    await assert_verified(db, settings)


async def test_an_inactive_wallet_fails_before_any_transfer(
    api: Api, db: Database, sims: RunningSimulators, worker: Settings
) -> None:
    account = await api.signup()
    available = await fund(db, account.merchant_id, 50_000)
    created = await create(
        api.http, account.secret_key, amount=2000, destination={"phone": "+237670000011"}
    )
    payout = await settled(api, account.secret_key, created.json()["id"])
    assert payout["status"] == "failed"
    assert payout["failure_code"] == "destination_inactive"
    assert await balance(api.http, account.secret_key) == (available, 0)
    assert not [r for r in sims.mtn.requests if r.path.endswith("/transfer")]
    assert not transfers(sims, "mtn")


async def test_a_lost_callback_is_covered_by_the_status_read(
    api: Api,
    db: Database,
    sims: RunningSimulators,
    worker: Settings,
    owner_connection: asyncpg.Connection,
) -> None:
    account = await api.signup()
    available = await fund(db, account.merchant_id, 50_000)
    created = await create(
        api.http, account.secret_key, amount=3000, destination={"phone": "+237670000006"}
    )
    payout_id = created.json()["id"]
    for _ in range(100):
        status = await owner_connection.fetchval(
            "SELECT status FROM payouts WHERE id = $1", payout_id
        )
        if status == "in_transit":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the simulator succeeded and sent no callback
    assert not [c for c in sims.mtn.callbacks if "dsb_" in str(c)]
    row = await owner_connection.fetchrow("SELECT status FROM payouts WHERE id = $1", payout_id)
    assert row["status"] == "in_transit"
    # What the `payouts.check_in_transit` cron task runs each minute.
    assert await payout_service.due(db, worker.payouts) == 1
    payout = await settled(api, account.secret_key, payout_id)
    assert payout["status"] == "paid"
    assert await balance(api.http, account.secret_key) == (available - 3000, 0)


async def test_a_payout_handed_to_the_worker_cannot_be_canceled(
    api: Api, db: Database, sims: RunningSimulators, worker: Settings
) -> None:
    account = await api.signup()
    await fund(db, account.merchant_id, 50_000)
    created = await create(
        api.http, account.secret_key, amount=1500, destination={"phone": "+237670000004"}
    )  # pending forever at MTN
    payout_id = created.json()["id"]
    for _ in range(100):
        got = await api.http.get(f"/v1/payouts/{payout_id}", headers=bearer(account.secret_key))
        if got.json()["status"] == "in_transit":
            break
        await asyncio.sleep(0.05)
    assert got.json()["status"] == "in_transit"
    response = await api.http.post(
        f"/v1/payouts/{payout_id}/cancel", headers=bearer(account.secret_key)
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payout_unexpected_state"


async def test_an_idempotent_create_is_replayed_with_one_reservation(
    api: Api, db: Database, sims: RunningSimulators, worker: Settings
) -> None:
    account = await api.signup()
    available = await fund(db, account.merchant_id, 50_000)
    headers = {**bearer(account.secret_key), "Idempotency-Key": "payout-week-49"}
    body = {"amount": 3000, "currency": "XAF", "destination": {"phone": "+237670000000"}}
    first = await api.http.post("/v1/payouts", json=body, headers=headers)
    second = await api.http.post("/v1/payouts", json=body, headers=headers)
    assert first.status_code == second.status_code == 200, second.text
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json()["id"] == first.json()["id"]
    other = await api.http.post("/v1/payouts", json={**body, "amount": 3001}, headers=headers)
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    payout = await settled(api, account.secret_key, first.json()["id"])
    assert payout["status"] == "paid"
    assert await balance(api.http, account.secret_key) == (available - 3000, 0)
    listed = await api.http.get("/v1/payouts", headers=bearer(account.secret_key))
    assert len(listed.json()["data"]) == 1


async def test_a_transfer_handed_over_but_never_sent_is_sent_by_the_status_task(
    api: Api,
    db: Database,
    sims: RunningSimulators,
    worker_settings: Settings,
    owner_connection: asyncpg.Connection,
    database_url: str,
    redis_url: str,
    settings: Settings,
) -> None:
    """The worker moved the payout to `in_transit` and died before its transfer call, and its
    job is gone: the in-transit status task finds the transfer never sent and sends it, with the
    reference stored at creation."""
    account = await api.signup()
    available = await fund(db, account.merchant_id, 50_000)
    created = (await create(api.http, account.secret_key, amount=2000)).json()
    # What the crash leaves: handed over (its own commit), no answer saved, no job left.
    await owner_connection.execute(
        "UPDATE payouts SET status = 'in_transit' WHERE id = $1", created["id"]
    )
    await owner_connection.execute(
        "UPDATE disbursements SET next_check_at = now() WHERE source_id = $1", created["id"]
    )
    await owner_connection.execute("DELETE FROM outbox")
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(worker_settings, database_url, redis_url, stop=stop))
    try:
        assert await payout_service.due(db, worker_settings.payouts) == 1
        payout = await settled(api, account.secret_key, created["id"])
    finally:
        stop.set()
        await running
    assert payout["status"] == "paid"
    assert payout["operator_reference"] == created["operator_reference"]
    assert len([tx for tx in transfers(sims, "mtn") if tx.external_id.startswith("dsb_")]) == 1
    assert await balance(api.http, account.secret_key) == (available - 2000, 0)
    await assert_verified(db, settings)
