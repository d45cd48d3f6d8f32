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
