"""Issue 13 point 6, exactly once: a real worker SIGKILLs itself at each crash point
(`MBOA_FAULTS__CRASH_AT`, docs/payments.md "Crash points"); a worker without the fault takes
over; every intent and payout then matches the simulators' truth, each success is on the ledger
once, and `ledger verify` passes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from mboa.config import Settings
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from tests.faults.conftest import (
    MTN_BROKE,
    MTN_OK,
    MTN_OK_2,
    ORANGE_OK,
    Workers,
    all_final,
    assert_matches_simulators,
    create_intent,
)
from tests.helpers import Api, bearer
from tests.payouts.helpers import fund

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ledger_db")]

REFUNDED_MTN, REFUNDED_ORANGE = "+237671234511", "+237691234512"
"""Ordinary numbers (no magic outcome): a payer's wallet holds only this test's money."""


async def _payout(api: Api, key: str) -> None:
    response = await api.http.post(
        "/v1/payouts",
        json={"amount": 2000, "currency": "XAF", "destination": {"phone": MTN_OK_2}},
        headers={**bearer(key), "Idempotency-Key": "payout-1"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("point", ["before_commit", "after_operator_call", "in_callback"])
async def test_a_worker_killed_at_a_crash_point_loses_and_doubles_nothing(
    api: Api,
    workers: Workers,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
    point: str,
) -> None:
    started = time.monotonic()
    account = await api.signup()
    key = account.secret_key
    await fund(db, account.merchant_id, 10_000)
    phones = [MTN_OK, MTN_OK_2, ORANGE_OK, MTN_BROKE]
    if point == "after_operator_call":
        # The payers answer only once the call cut off by the kill has been re-sent, so the
        # retry must re-send it (same reference: MTN answers 409) rather than find a callback's
        # result. Approving by hand, not after a delay, keeps this true on a loaded host.
        for url in (sims.mtn_url, sims.orange_url):
            response = await api.http.patch(
                f"{url}/_sim/settings",
                json={"manual_approval": True, "approval_window_seconds": 120},
            )
            assert response.status_code == 200, response.text
        phones[2] = MTN_OK  # only MTN: every call cut off is re-sent, never read first
    doomed = workers.start(crash_at=point)
    for n, phone in enumerate(phones):
        await create_intent(api.http, key, phone, n)
    await _payout(api, key)

    await workers.killed(doomed)
    await _died_in_the_window(point, owner_connection, sims)
    workers.start()  # the same code, no fault: takes the dead worker's jobs over
    if point == "after_operator_call":
        await _resent_then_approved(api, sims)
    intents = await all_final(owner_connection)

    assert [r["status"] for r in intents].count("succeeded") == 3
    assert await owner_connection.fetchval("SELECT status FROM payouts") == "paid"
    await assert_matches_simulators(owner_connection, sims, db, settings)
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("point", ["before_commit", "after_operator_call"])
async def test_a_worker_killed_during_a_refund_refunds_once(
    api: Api,
    workers: Workers,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
    point: str,
) -> None:
    """The refund's transfer to the payer (`mboa.disbursements`, shared with payouts) dies at
    its crash point: the operator holds one transfer, the refund succeeds once, the ledger
    posts it once, and every payer is charged what the merchant kept."""
    account = await api.signup()
    key = account.secret_key
    phones = [REFUNDED_MTN, REFUNDED_ORANGE]
    healthy = workers.start()
    intents = [await create_intent(api.http, key, phone, n) for n, phone in enumerate(phones)]
    assert [r["status"] for r in await all_final(owner_connection)] == ["succeeded"] * 2
    await workers.stop(healthy)

    doomed = workers.start(crash_at=point)
    amounts = {intents[0]: 600, intents[1]: None}  # a partial refund and a full one
    for n, (intent_id, amount) in enumerate(amounts.items()):
        response = await api.http.post(
            "/v1/refunds",
            json={"payment_intent": intent_id, **({"amount": amount} if amount else {})},
            headers={**bearer(key), "Idempotency-Key": f"refund-{n}"},
        )
        assert response.status_code == 200, response.text
    await workers.killed(doomed)
    refund_transfers = (
        "SELECT d.id, d.status, d.sent_at FROM disbursements d"
        " JOIN refunds r ON r.id = d.source_id ORDER BY d.id"
    )
    died_with = await owner_connection.fetch(refund_transfers)
    assert len(died_with) == 2
    if point == "before_commit":
        # The operator's final answer was applied, not committed: nothing final is stored.
        assert all(r["status"] == "pending" for r in died_with)
    else:
        # The operator holds a transfer we never recorded as sent.
        known = {tx.external_id for tx in sims.mtn.transactions.values()} | {
            tx.external_id for tx in sims.orange.transactions.values()
        }
        assert {r["id"] for r in died_with if r["sent_at"] is None} & known

    workers.start()

    async def refunds() -> list[asyncpg.Record]:
        return list(
            await owner_connection.fetch(
                "SELECT payment_intent_id, amount, status FROM refunds ORDER BY amount"
            )
        )

    deadline = time.monotonic() + 40
    while any(r["status"] == "pending" for r in await refunds()):
        assert time.monotonic() < deadline, await refunds()
        await asyncio.sleep(0.2)
    assert [(r["payment_intent_id"], r["amount"], r["status"]) for r in await refunds()] == [
        (intents[0], 600, "succeeded"),
        (intents[1], 1501, "succeeded"),
    ]
    rows = await owner_connection.fetch(
        "SELECT id, amount_received, amount_refunded FROM payment_intents ORDER BY id"
    )
    kept = {r["id"]: r["amount_received"] - r["amount_refunded"] for r in rows}
    assert kept == {intents[0]: 1500 - 600, intents[1]: 0}
    # What each payer's wallet lost is what the merchant kept: charged once, refunded once.
    for n, phone in enumerate(phones):
        engine = sims.mtn if phone == REFUNDED_MTN else sims.orange
        msisdns = {tx.msisdn for tx in engine.transactions.values() if tx.msisdn}
        assert len(msisdns) == 1
        (msisdn,) = msisdns
        assert msisdn is not None
        lost = engine.settings.default_wallet_balance - engine.wallet(msisdn)
        assert lost == kept[intents[n]], (phone, lost)
    await assert_matches_simulators(owner_connection, sims, db, settings)


async def _resent_then_approved(api: Api, sims: RunningSimulators) -> None:
    """Wait until the new worker has sent again what the dead one had sent (4 collections and
    1 transfer, each at least twice), then let the payers approve every waiting prompt."""
    deadline = time.monotonic() + 40
    while True:
        sends = [
            r
            for r in sims.mtn.requests
            if r.method == "POST" and r.path.endswith(("/requesttopay", "/transfer"))
        ]
        if len(sends) > 5:
            break
        assert time.monotonic() < deadline, f"no call was re-sent ({len(sends)} sends)"
        await asyncio.sleep(0.2)
    # From now on the payers approve by themselves (a call not sent yet is approved when it
    # arrives), and those already waiting approve on the phone page.
    response = await api.http.patch(
        f"{sims.mtn_url}/_sim/settings",
        json={"manual_approval": False, "auto_approve_seconds": 0},
    )
    assert response.status_code == 200, response.text
    for tx in list(sims.mtn.transactions.values()):
        if tx.state == "pending":
            response = await api.http.post(f"{sims.mtn_url}/_sim/phone/{tx.id}/approve")
            assert response.status_code in (200, 303), response.text


async def _died_in_the_window(
    point: str, owner: asyncpg.Connection, sims: RunningSimulators
) -> None:
    """The state the dead worker left is the one its crash point stands for."""
    final = await owner.fetchval(
        "SELECT (SELECT count(*) FROM payment_attempts WHERE status <> 'pending')"
        " + (SELECT count(*) FROM disbursements WHERE status <> 'pending')"
    )
    if point == "before_commit":
        # The first confirmed result died with its transaction: nothing final is stored.
        assert final == 0
    elif point == "after_operator_call":
        # The operator has a request we never recorded as sent.
        unsent = {
            r["id"]
            for r in await owner.fetch(
                "SELECT id FROM payment_attempts WHERE sent_at IS NULL"
                " UNION ALL SELECT id FROM disbursements WHERE sent_at IS NULL"
            )
        }
        known = {tx.external_id for tx in sims.mtn.transactions.values()} | {
            tx.external_id for tx in sims.orange.transactions.values()
        }
        assert unsent & known
    else:
        # A callback was read at the operator but neither recorded nor applied.
        assert await owner.fetchval(
            "SELECT count(*) FROM provider_events WHERE processed_at IS NULL"
        )


async def test_relay_killed_between_redis_and_its_mark_runs_each_job_once(
    api: Api,
    workers: Workers,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
    unrelayed: Any,
) -> None:
    account = await api.signup()
    key = account.secret_key
    # The API committed; no worker runs: the jobs wait in the outbox (an API or relay gone
    # right after the commit is this state).
    for n, phone in enumerate([MTN_OK, ORANGE_OK, MTN_OK_2]):
        await create_intent(api.http, key, phone, n)
    assert await unrelayed() == 3

    # The relay puts the jobs in BullMQ, then dies before marking the rows relayed: the next
    # worker relays them again with the same job ids, which BullMQ takes once.
    doomed = workers.start(crash_at="relay_before_mark")
    await workers.killed(doomed)
    assert await unrelayed() == 3
    workers.start()
    intents = await all_final(owner_connection)
    assert [r["status"] for r in intents] == ["succeeded"] * 3
    await assert_matches_simulators(owner_connection, sims, db, settings)
    collect_calls = [
        r for r in sims.mtn.requests if r.method == "POST" and "requesttopay" in r.path
    ]
    assert len(collect_calls) == 2  # one per MTN attempt: no job ran twice


async def test_duplicate_late_and_out_of_order_callbacks_change_nothing(
    api: Api,
    workers: Workers,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    key = account.secret_key
    workers.start()
    for n, phone in enumerate([MTN_OK, ORANGE_OK]):
        await create_intent(api.http, key, phone, n)
    await all_final(owner_connection)

    async def snapshot() -> list[Any]:
        return [
            tuple(r)
            for r in await owner_connection.fetch(
                "SELECT i.id, i.status, i.amount_received, i.fee, i.net,"
                " (SELECT count(*) FROM events e WHERE e.object_id = i.id),"
                " (SELECT count(*) FROM ledger_transactions l WHERE l.source = i.id)"
                " FROM payment_intents i ORDER BY i.id"
            )
        ]

    before = await snapshot()
    sent = list(sims.mtn.callbacks) + list(sims.orange.callbacks)
    assert len(sent) == 2
    stored = "SELECT count(*), coalesce(sum(duplicate_count), 0) FROM provider_events"
    rows, duplicates = await owner_connection.fetchrow(stored)
    async with httpx.AsyncClient(timeout=10) as client:
        for callback in sent:
            for _ in range(2):  # the same callback again, twice
                response = await client.request(callback.method, callback.url, json=callback.body)
                assert response.status_code == 200, response.text
            stale = _as_failure(callback.body)  # a failure after the success, out of order
            response = await client.request(callback.method, callback.url, json=stale)
            assert response.status_code == 200, response.text
    # All of them reached our callback route: the replays counted, each stale one stored.
    assert tuple(await owner_connection.fetchrow(stored)) == (rows + 2, duplicates + 4)
    await asyncio.sleep(3)  # long enough for any confirmation the worker would run
    assert await snapshot() == before
    await assert_matches_simulators(owner_connection, sims, db, settings)


def _as_failure(body: dict[str, Any]) -> dict[str, Any]:
    """The same callback saying the payer refused (both operators put `status` at the top)."""
    stale = {k: v for k, v in body.items() if k not in {"financialTransactionId", "txnid"}}
    stale["status"] = "FAILED"
    stale["reason"] = "APPROVAL_REJECTED"
    return stale
