"""Issue 13 point 6, the hole of docs/payments.md "When the operator is down": a worker killed
while its collect call is in flight (the operator holds the request, we never recorded it as
sent), then an operator that answers 503 to every re-send for the whole retry schedule. The
attempt fails with `operator_unavailable`; the payer then approves on the phone. The money
must not be lost: the failed attempt is still read (callback confirmed by a status read, or
the janitor), its success applied once, and the payer is never charged without the merchant
credited or the payer refunded."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from mboa.config import Settings
from mboa.payments.service import payment_intent as payment_intent_service
from mboa.postgres import Database
from mboa.simulator.engine import SimTransaction
from mboa.simulator.run import RunningSimulators
from tests.faults.conftest import Workers, assert_matches_simulators
from tests.helpers import Api, bearer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ledger_db")]

PAID_BY_CALLBACK = "+237671234501"
"""Ordinary numbers: they wait for the payer (manual approval) like a real phone."""
CANCELED_THEN_PAID = "+237671234502"
PAID_TWICE = "+237671234503"
CALLBACK_LOST = "+237670000006"
"""Magic 06: the payer approves at once, the operator never calls back."""
FAST_FAILURES = {
    # One HTTP try per call and a breaker that lets a trial through quickly: the retry
    # schedule is BullMQ's (6 tries, about 31 s), and status reads work as soon as MTN is back.
    "MBOA_PROVIDERS__MTN_MOMO__RESILIENCE__RETRY_ATTEMPTS": "1",
    "MBOA_PROVIDERS__MTN_MOMO__RESILIENCE__BREAKER_TTL_SECONDS": "1",
}


async def _sim(http: httpx.AsyncClient, sims: RunningSimulators, **settings: Any) -> None:
    response = await http.patch(f"{sims.mtn_url}/_sim/settings", json=settings)
    assert response.status_code == 200, response.text


def _held(sims: RunningSimulators, attempt_id: str) -> SimTransaction | None:
    found = [t for t in sims.mtn.transactions.values() if t.external_id == attempt_id]
    assert len(found) <= 1
    return found[0] if found else None


async def _until(check: Any, what: str, *, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not after {within}s"
        await asyncio.sleep(0.2)


async def test_a_failed_attempt_the_payer_paid_is_credited_or_refunded_once(
    api: Api,
    workers: Workers,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    key = account.secret_key
    http = api.http
    # The payers approve only when told to, long after our retry schedule; every call takes
    # 0.3 s, so the four collect calls are all at MTN when the first answer kills the worker.
    await _sim(
        http,
        sims,
        manual_approval=True,
        approval_window_seconds=300,
        latency_min_ms=300,
        latency_max_ms=300,
    )
    phones = [PAID_BY_CALLBACK, CANCELED_THEN_PAID, CALLBACK_LOST, PAID_TWICE]
    intents: dict[str, dict[str, Any]] = {}
    for n, phone in enumerate(phones):
        response = await http.post(
            "/v1/payment_intents",
            json={"amount": 1000 + 100 * n, "currency": "XAF", "phone": phone},
            headers={**bearer(key), "Idempotency-Key": f"create-{n}"},
        )
        assert response.status_code == 200, response.text
        intents[phone] = response.json()
    first_attempt = {phone: i["latest_attempt"]["id"] for phone, i in intents.items()}

    doomed = workers.start(crash_at="after_operator_call")
    await workers.killed(doomed)

    async def all_held() -> bool:
        return all(_held(sims, a) is not None for a in first_attempt.values())

    await _until(all_held, "the operator holds every request", within=5)
    unsent = await owner_connection.fetchval(
        "SELECT count(*) FROM payment_attempts WHERE sent_at IS NULL AND status = 'pending'"
    )
    assert unsent == 4  # the dead worker recorded none of them as sent
    # MTN goes down: every re-send of the new worker is a 503, for the whole schedule.
    await _sim(http, sims, failure_rate=1.0, latency_min_ms=0, latency_max_ms=0)
    workers.start(extra=FAST_FAILURES)

    async def all_failed() -> bool:
        rows = await owner_connection.fetch(
            "SELECT status, failure_code FROM payment_attempts WHERE id = ANY($1)",
            list(first_attempt.values()),
        )
        return all(r["status"] == "failed" for r in rows)

    await _until(all_failed, "the retry schedule fails every attempt", within=90)
    for phone, intent in intents.items():
        body = (await http.get(f"/v1/payment_intents/{intent['id']}", headers=bearer(key))).json()
        assert body["status"] == "requires_payment_method", body
        assert body["last_payment_error"]["code"] == "operator_unavailable", body
        if phone != CALLBACK_LOST:
            assert _held(sims, first_attempt[phone]).state == "pending"  # type: ignore[union-attr]
    # The 06 payer approved at once: the operator holds money we had failed.
    assert _held(sims, first_attempt[CALLBACK_LOST]).state == "succeeded"  # type: ignore[union-attr]

    # MTN is back; new prompts approve themselves, waiting ones are approved on the phone.
    await _sim(http, sims, failure_rate=0.0, manual_approval=False, auto_approve_seconds=0)

    async def approve(phone: str) -> None:
        tx = _held(sims, first_attempt[phone])
        assert tx is not None
        response = await http.post(f"{sims.mtn_url}/_sim/transactions/{tx.id}/approve")
        assert response.status_code == 200, response.text

    async def read_intent(phone: str) -> dict[str, Any]:
        response = await http.get(
            f"/v1/payment_intents/{intents[phone]['id']}", headers=bearer(key)
        )
        return dict(response.json())

    async def attempt_status(phone: str) -> str:
        return str(
            await owner_connection.fetchval(
                "SELECT status FROM payment_attempts WHERE id = $1", first_attempt[phone]
            )
        )

    # 1. The intent is still open: the callback, confirmed by a status read, makes it succeed
    #    with the attempt that paid.
    await approve(PAID_BY_CALLBACK)

    async def paid_by_callback() -> dict[str, Any] | None:
        body = await read_intent(PAID_BY_CALLBACK)
        return body if body["status"] == "succeeded" else None

    done = await _until(paid_by_callback, "the callback of a failed attempt is applied")
    assert done["latest_attempt"]["id"] == first_attempt[PAID_BY_CALLBACK]
    assert done["latest_attempt"]["status"] == "succeeded"
    assert done["latest_attempt"]["failure_code"] is None
    assert done["amount_received"] == 1000
    assert done["last_payment_error"] is None

    # 2. The merchant canceled meanwhile: a late success, refunded automatically in full.
    response = await http.post(
        f"/v1/payment_intents/{intents[CANCELED_THEN_PAID]['id']}/cancel", headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    await approve(CANCELED_THEN_PAID)

    # 3. No callback at all: the janitor's status read finds the success.
    async def janitor_read() -> bool:
        await payment_intent_service.janitor(db, settings.payments)
        return await attempt_status(CALLBACK_LOST) == "succeeded"

    await _until(janitor_read, "the janitor reads a failed attempt")

    # 4. The payer pays again through a new attempt, then approves the old prompt too: the
    #    intent keeps one payment, the second is a late success refunded automatically.
    response = await http.post(
        f"/v1/payment_intents/{intents[PAID_TWICE]['id']}/confirm",
        json={"phone": PAID_TWICE},
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text

    async def paid_twice_succeeded() -> bool:
        return bool((await read_intent(PAID_TWICE))["status"] == "succeeded")

    await _until(paid_twice_succeeded, "the new attempt succeeds")
    await approve(PAID_TWICE)

    async def refunds_done() -> list[asyncpg.Record] | None:
        rows = await owner_connection.fetch(
            "SELECT payment_intent_id, amount, status, reason FROM refunds ORDER BY amount"
        )
        if len(rows) == 2 and all(r["status"] == "succeeded" for r in rows):
            return list(rows)
        return None

    refunds = await _until(refunds_done, "both late successes are refunded", within=40)
    assert [(r["payment_intent_id"], r["amount"], r["reason"]) for r in refunds] == [
        (intents[CANCELED_THEN_PAID]["id"], 1100, "expired_uncaptured"),
        (intents[PAID_TWICE]["id"], 1300, "expired_uncaptured"),
    ]

    final = {phone: await read_intent(phone) for phone in phones}
    assert {phone: body["status"] for phone, body in final.items()} == {
        PAID_BY_CALLBACK: "succeeded",
        CANCELED_THEN_PAID: "canceled",
        CALLBACK_LOST: "succeeded",
        PAID_TWICE: "succeeded",
    }
    assert final[PAID_TWICE]["amount_received"] == 2 * 1300
    assert final[PAID_TWICE]["amount_refunded"] == 1300
    assert all(body["refund_due"] is False for body in final.values())
    # Every payer paid exactly what the merchant kept: credited, or refunded.
    for phone, body in final.items():
        tx = _held(sims, first_attempt[phone])
        assert tx is not None
        assert tx.msisdn is not None
        charged = sims.mtn.settings.default_wallet_balance - sims.mtn.wallet(tx.msisdn)
        assert charged == body["amount_received"] - body["amount_refunded"], (phone, body)
        assert charged == (0 if phone == CANCELED_THEN_PAID else body["amount"]), phone
    # One late-success event per late attempt, one `.succeeded` per paid intent.
    late = await owner_connection.fetchval(
        "SELECT count(*) FROM events WHERE type = 'payment_intent.late_success'"
    )
    assert late == 2
    await assert_matches_simulators(owner_connection, sims, db, settings)
