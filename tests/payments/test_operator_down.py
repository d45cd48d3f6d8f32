"""An operator that is down: its answer says the request was not processed (sandbox magic
number 09: a 503 on every create) or our circuit breaker refused to call it. The attempt fails
within the retry schedule with `operator_unavailable`, never `operator_refused`; an unknown
outcome (a timeout) keeps the status-read path, so a late success is never lost
(docs/payments.md, "When the operator is down")."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from bullmq import Queue

from mboa.config import Settings
from mboa.payments.service import INITIATE_TASK, OUTCOME_UNKNOWN, WATCH_FAILED_FOR
from mboa.payments.service import payment_intent as payment_intent_service
from mboa.postgres import Database
from mboa.providers.config import ProvidersSettings
from mboa.providers.errors import CircuitOpen, ProviderUnavailable
from mboa.providers.registry import ProviderRegistry
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from tests.helpers import Api
from tests.payments.conftest import PAYMENTS
from tests.payments.test_flow import (
    collections,
    create,
    event_types,
    janitor_finds,
    wait_for,
)
from tests.providers.conftest import RESILIENCE, mtn_settings, orange_settings

pytestmark = pytest.mark.usefixtures("ledger_db")

RETRY_SCHEDULE = 60.0
"""Six tries with BullMQ's exponential backoff from 1 s (31 s of waiting), plus slack."""


def failure_rate(engine: object, rate: float) -> None:
    engine.settings = engine.settings.model_copy(update={"failure_rate": rate})  # type: ignore[attr-defined]


async def attempt_row(owner: asyncpg.Connection, attempt_id: str) -> asyncpg.Record:
    row = await owner.fetchrow("SELECT * FROM payment_attempts WHERE id = $1", attempt_id)
    assert row is not None
    return row


@pytest.mark.parametrize(
    ("phone", "provider_codes"),
    [
        ("+237670000009", {"SERVICE_UNAVAILABLE", "CircuitOpen"}),
        # The tests' payToken outlives one try only (approval window 0.6 s): the retry's `pay`
        # is refused for it, a refusal caused by the outage, so still `operator_unavailable`.
        ("+237690000009", None),
    ],
    ids=["mtn", "orange"],
)
async def test_magic_09_fails_with_operator_unavailable_within_the_retry_schedule(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    phone: str,
    provider_codes: set[str] | None,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone=phone)
    failed = await wait_for(
        api.http, key, intent["id"], {"requires_payment_method"}, within=RETRY_SCHEDULE
    )
    error = failed["last_payment_error"]
    assert error["code"] == "operator_unavailable", error
    if provider_codes is not None:
        # Failed by the sending task itself, not by a status read that found nothing.
        assert error["provider_code"] in provider_codes, error
    attempt = failed["latest_attempt"]
    assert attempt["status"] == "failed"
    assert attempt["failure_code"] == "operator_error"
    assert await event_types(owner_connection, intent["id"]) == [
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.payment_failed",
    ]
    engine = sims.mtn if attempt["provider"] == "mtn_momo" else sims.orange
    # The operator holds nothing for this attempt: nothing was collected, nothing posted.
    assert not [t for t in engine.transactions.values() if t.external_id == attempt["id"]]
    assert await collections(owner_connection, intent["id"]) == 0
    row = await attempt_row(owner_connection, attempt["id"])
    assert row["sent_at"] is None
    await _watched_then_let_go(worker, owner_connection, engine, attempt["id"])


async def _watched_then_let_go(
    worker: TaskContext, owner: asyncpg.Connection, engine: Any, attempt_id: str
) -> None:
    """An attempt failed for an outage is still read (the operator may hold it), within bounds
    (docs/payments.md, "When the operator is down")."""
    row = await attempt_row(owner, attempt_id)
    if row["operator_reference"] is None:  # nothing ever reached the operator: nothing to read
        assert row["next_check_at"] is None
        return
    assert row["next_check_at"] is not None
    # An operator that answers and still does not know the reference, past
    # UNKNOWN_ATTEMPT_FAIL_AFTER_SECONDS (1 s here), never will: the reads stop.
    await asyncio.sleep(PAYMENTS.unknown_attempt_fail_after_seconds)
    failure_rate(engine, 0.0)
    assert (await janitor_finds(worker))[1] >= 1
    for _ in range(100):
        if (await attempt_row(owner, attempt_id))["next_check_at"] is None:
            break
        await asyncio.sleep(0.05)
    assert (await attempt_row(owner, attempt_id))["next_check_at"] is None
    # And never past WATCH_FAILED_FOR (24 h), without asking the operator.
    await owner.execute(
        "UPDATE payment_attempts SET next_check_at = now(), finished_at = finished_at - $2::interval"
        " WHERE id = $1",
        attempt_id,
        WATCH_FAILED_FOR,
    )
    calls = len(engine.requests)
    await asyncio.sleep(1.0)  # the janitor's job ids are per second
    assert (await janitor_finds(worker))[1] == 1
    for _ in range(100):
        if (await attempt_row(owner, attempt_id))["next_check_at"] is None:
            break
        await asyncio.sleep(0.05)
    assert (await attempt_row(owner, attempt_id))["next_check_at"] is None
    assert len(engine.requests) == calls
    assert (await attempt_row(owner, attempt_id))["status"] == "failed"


@pytest.mark.parametrize("phone", ["+237670000000", "+237690000000"], ids=["mtn", "orange"])
async def test_an_open_circuit_breaker_fails_the_last_try_with_operator_unavailable(
    api: Api,
    db: Database,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    base_url: str,
    phone: str,
) -> None:
    """Our breaker opened after the operator's 503s and stays open after it recovered: a try
    sends nothing (`CircuitOpen`), and the last one fails the attempt. Driven by hand (no
    worker) with the real service and real adapters whose breaker stays open for 30 s."""
    resilience = RESILIENCE.model_copy(update={"breaker_ttl_seconds": 30.0})
    providers = ProviderRegistry(
        ProvidersSettings(
            mtn_momo=mtn_settings(sims, resilience=resilience),
            orange_money=orange_settings(sims, resilience=resilience),
        )
    )
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone=phone)
    attempt_id = intent["latest_attempt"]["id"]
    engine = sims.mtn if intent["provider"] == "mtn_momo" else sims.orange

    async def initiate(*, retry: bool, final_try: bool) -> str:
        return await payment_intent_service.initiate(
            db,
            providers,
            base_url,
            attempt_id,
            settings=PAYMENTS,
            retry=retry,
            final_try=final_try,
        )

    try:
        failure_rate(engine, 1.0)
        with pytest.raises(ProviderUnavailable):  # 503s, which open the breaker
            await initiate(retry=False, final_try=False)
        with pytest.raises(CircuitOpen):
            await initiate(retry=True, final_try=False)
        failure_rate(engine, 0.0)
        calls = len(engine.requests)
        assert await initiate(retry=True, final_try=True) == "failed"
        assert len(engine.requests) == calls  # nothing was sent
    finally:
        await providers.aclose()
    failed = await wait_for(api.http, key, intent["id"], {"requires_payment_method"})
    assert failed["last_payment_error"]["code"] == "operator_unavailable"
    assert failed["last_payment_error"]["provider_code"] == "CircuitOpen"
    assert "payment_intent.payment_failed" in await event_types(owner_connection, intent["id"])
    assert not [t for t in engine.transactions.values() if t.external_id == attempt_id]


async def initiate_finished(settings: Settings, redis_url: str, attempt_id: str) -> bool:
    queue = Queue("payments", {"connection": redis_url, "prefix": settings.worker.queue_prefix})
    try:
        job = await queue.getJob(f"{INITIATE_TASK}:{attempt_id}")
        return job is not None and bool(job.finishedOn)
    finally:
        await queue.close()


async def test_a_timeout_then_an_outage_is_read_not_failed_and_the_late_success_counts(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    settings: Settings,
    redis_url: str,
) -> None:
    """Magic number 10: MTN processes the first create but answers after our timeout. Then
    MTN goes down (every call a 503) before our re-send: every later try is refused or our
    breaker is open, yet the first try's outcome is unknown, so the attempt is never failed
    for the outage; once MTN is back a status read finds the success and applies it once."""
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000010")
    attempt_id = intent["latest_attempt"]["id"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not [t for t in sims.mtn.transactions.values() if t.external_id == attempt_id]:
        assert loop.time() < deadline, "the first create never reached MTN"
        await asyncio.sleep(0.005)
    failure_rate(sims.mtn, 1.0)  # before our client times out (0.3 s) and re-sends
    deadline = loop.time() + RETRY_SCHEDULE
    while not await initiate_finished(settings, redis_url, attempt_id):
        assert loop.time() < deadline, "payments.initiate never finished"
        still = await wait_for(api.http, key, intent["id"], {"processing", "succeeded"})
        assert still["last_payment_error"] is None
        await asyncio.sleep(0.5)
    row = await attempt_row(owner_connection, attempt_id)
    assert row["status"] == "pending"
    assert (row["raw_reason"] or "").startswith(OUTCOME_UNKNOWN)
    failure_rate(sims.mtn, 0.0)
    await janitor_finds(worker)
    done = await wait_for(api.http, key, intent["id"], {"succeeded"}, within=20)
    assert done["latest_attempt"]["operator_reference"] == row["operator_reference"]
    assert "payment_intent.payment_failed" not in await event_types(owner_connection, intent["id"])
    assert await collections(owner_connection, intent["id"]) == 1
