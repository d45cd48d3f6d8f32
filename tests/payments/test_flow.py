"""Payment intents end to end: the real API, a real worker, the simulators' magic numbers
(docs/sandbox.md), their callbacks to our callback route, the ledger and the events."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from mboa.config import Settings
from mboa.payments.tasks import janitor
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from tests.helpers import Api, bearer
from tests.ledger.conftest import assert_verified

pytestmark = pytest.mark.usefixtures("ledger_db")


async def create(http: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    response = await http.post(
        "/v1/payment_intents",
        json={"amount": 1500, "currency": "XAF", **body},
        headers={**bearer(key), "Idempotency-Key": f"create-{body}"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_for(
    http: httpx.AsyncClient,
    key: str,
    intent_id: str,
    statuses: set[str],
    *,
    within: float = 10.0,
    attempt_status: str | None = None,
) -> dict[str, Any]:
    """Poll the intent as an integration does (the read path) until it reaches a status."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        response = await http.get(f"/v1/payment_intents/{intent_id}", headers=bearer(key))
        assert response.status_code == 200, response.text
        body = dict(response.json())
        latest = body["latest_attempt"] or {}
        if body["status"] in statuses and (
            attempt_status is None or latest.get("status") == attempt_status
        ):
            return body
        if loop.time() > deadline:
            raise AssertionError(f"still {body['status']} after {within}s: {body}")
        await asyncio.sleep(0.05)


async def webpay_redirect(http: httpx.AsyncClient, key: str, intent_id: str) -> dict[str, Any]:
    """The intent once the worker has WebPay's payment page (`next_action`)."""
    for _ in range(200):
        body = await wait_for(http, key, intent_id, {"processing"})
        if body["next_action"]:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"no next_action: {body}")


async def janitor_finds(worker: TaskContext, *, within: float = 5.0) -> tuple[int, int]:
    """Run the janitor (as the scheduler would, every minute) until it finds something to do."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        expired, due = await janitor(worker, {})
        if expired or due or loop.time() > deadline:
            return expired, due
        await asyncio.sleep(0.05)


async def event_types(owner: asyncpg.Connection, intent_id: str) -> list[str]:
    rows = await owner.fetch("SELECT type FROM events WHERE object_id = $1 ORDER BY id", intent_id)
    return [r["type"] for r in rows]


async def collections(owner: asyncpg.Connection, intent_id: str) -> int:
    return int(
        await owner.fetchval(
            "SELECT count(*) FROM ledger_transactions WHERE source = $1", intent_id
        )
    )


async def balance(http: httpx.AsyncClient, key: str) -> dict[str, int]:
    body = (await http.get("/v1/balance", headers=bearer(key))).json()
    return {"pending": body["pending"][0]["amount"], "available": body["available"][0]["amount"]}


@pytest.mark.parametrize("phone", ["+237670000000", "+237690000000"], ids=["mtn", "orange"])
async def test_success_posts_once_to_the_ledger_and_writes_the_events(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
    phone: str,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone=phone, reference="order-1")
    assert intent["status"] == "processing"
    done = await wait_for(api.http, key, intent["id"], {"succeeded"})
    assert done["amount_received"] == 1500
    assert done["fee"] == 30  # the default plan: 2 %
    assert done["net"] == 1470
    assert done["last_payment_error"] is None
    attempt = done["latest_attempt"]
    assert attempt["status"] == "succeeded"
    assert attempt["operator_reference"]
    assert attempt["operator_transaction_id"]
    assert await balance(api.http, key) == {"pending": 1470, "available": 0}
    assert await event_types(owner_connection, intent["id"]) == [
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.succeeded",
    ]
    assert await collections(owner_connection, intent["id"]) == 1
    await assert_verified(db, settings)


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("+237670000001", "insufficient_funds"),
        ("+237670000002", "payer_rejected"),
        ("+237670000011", "payer_not_found"),
        ("+237670000014", "limit_exceeded"),
        ("+237690000001", "insufficient_funds"),
        ("+237690000002", "payer_rejected"),
        ("+237690000011", "payer_not_found"),
        ("+237690000014", "limit_exceeded"),
        ("+237670000003", "payer_timeout"),
        ("+46733123451", "payer_rejected"),  # MTN's own sandbox numbers (docs/sandbox.md)
        ("+46733123455", "payer_not_found"),
        ("+46733123463", "payer_timeout"),  # COULD_NOT_PERFORM_TRANSACTION
    ],
)
async def test_a_failed_attempt_returns_the_intent_for_another_try(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection, phone: str, code: str
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone=phone)
    failed = await wait_for(api.http, key, intent["id"], {"requires_payment_method"})
    error = failed["last_payment_error"]
    assert error["code"] == code
    assert error["message"]
    assert error["message_fr"]
    assert error["message"] != error["message_fr"]
    assert failed["latest_attempt"]["status"] == "failed"
    assert failed["amount_received"] == 0
    assert await collections(owner_connection, intent["id"]) == 0
    # The operator's own answer: final, never read again (only an outage is watched).
    assert (
        await owner_connection.fetchval(
            "SELECT next_check_at FROM payment_attempts WHERE id = $1",
            failed["latest_attempt"]["id"],
        )
        is None
    )
    assert (await event_types(owner_connection, intent["id"]))[
        -1
    ] == "payment_intent.payment_failed"

    # Another try with a good number succeeds; the first attempt stays as it was.
    retry = await api.http.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        json={"phone": "+237670000000"},
        headers=bearer(key),
    )
    assert retry.status_code == 200, retry.text
    assert retry.json()["last_payment_error"] is None
    done = await wait_for(api.http, key, intent["id"], {"succeeded"})
    assert done["latest_attempt"]["id"] != failed["latest_attempt"]["id"]
    assert await collections(owner_connection, intent["id"]) == 1


async def test_callback_sent_twice_counts_once(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000007")
    await wait_for(api.http, key, intent["id"], {"succeeded"})

    async def both_callbacks_handled() -> bool:
        processed = await owner_connection.fetchval(
            "SELECT count(*) FROM provider_events WHERE processed_at IS NOT NULL"
        )
        duplicates = await owner_connection.fetchval(
            "SELECT coalesce(sum(duplicate_count), 0) FROM provider_events"
        )
        return bool(processed >= 1 and processed + duplicates >= 2)

    for _ in range(100):
        if await both_callbacks_handled():
            break
        await asyncio.sleep(0.05)
    assert await both_callbacks_handled()
    await asyncio.sleep(0.3)  # any second application would have run by now
    assert await collections(owner_connection, intent["id"]) == 1
    assert (await event_types(owner_connection, intent["id"])).count(
        "payment_intent.succeeded"
    ) == 1


async def test_a_lost_callback_is_found_by_the_janitor(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000006")
    await asyncio.sleep(0.5)  # approved at the operator, nobody told us
    still = await wait_for(api.http, key, intent["id"], {"processing"})
    assert still["latest_attempt"]["status"] == "pending"
    assert await owner_connection.fetchval("SELECT count(*) FROM provider_events") == 0
    # The attempt's first check is due 0.3 s after it was sent (PAYMENTS in conftest).
    assert await janitor_finds(worker) == (0, 1)
    done = await wait_for(api.http, key, intent["id"], {"succeeded"})
    assert done["amount_received"] == 1500
    assert await collections(owner_connection, intent["id"]) == 1


async def test_pending_forever_is_polled_with_backoff_then_expires(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000004")
    assert await janitor_finds(worker) == (0, 1)

    async def checks() -> int:
        return int(await owner_connection.fetchval("SELECT status_checks FROM payment_attempts"))

    for _ in range(100):
        if await checks() >= 2:  # the janitor's claim, then the read's reschedule
            break
        await asyncio.sleep(0.05)
    assert await checks() >= 2
    next_check = await owner_connection.fetchval(
        "SELECT next_check_at - now() FROM payment_attempts"
    )
    assert next_check.total_seconds() > 0.3  # backed off
    await owner_connection.execute("UPDATE payment_intents SET expires_at = now()")
    expired, _ = await janitor(worker, {})
    assert expired == 1
    canceled = await wait_for(api.http, key, intent["id"], {"canceled"})
    assert canceled["cancellation_reason"] == "expired"
    assert canceled["refund_due"] is False
    assert (await event_types(owner_connection, intent["id"]))[-1] == "payment_intent.canceled"


async def test_a_success_after_expiry_is_counted_once_and_flagged_for_refund(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    db: Database,
    settings: Settings,
) -> None:
    """docs/payments.md "Late successes": money that arrives is never dropped; the intent stays
    canceled, the collection is posted once and the intent says the payer is owed a refund."""
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000008")
    await asyncio.sleep(0.2)
    await owner_connection.execute("UPDATE payment_intents SET expires_at = now()")
    assert (await janitor(worker, {}))[0] == 1
    canceled = await wait_for(api.http, key, intent["id"], {"canceled"})
    assert canceled["amount_received"] == 0
    # The late success arrives (late_success_seconds = 0.9 in the simulators' test settings).
    late = await wait_for(
        api.http, key, intent["id"], {"canceled"}, attempt_status="succeeded", within=10
    )
    assert late["amount_received"] == 1500
    assert late["net"] == 1470
    assert await collections(owner_connection, intent["id"]) == 1
    types = await event_types(owner_connection, intent["id"])
    assert types[-2:] == ["payment_intent.canceled", "payment_intent.late_success"]
    # The flag as the success was applied (the automatic refund clears it right after:
    # tests/refunds/test_flow.py).
    snapshot = await owner_connection.fetchval(
        "SELECT data FROM events WHERE object_id = $1 AND type = 'payment_intent.late_success'",
        intent["id"],
    )
    assert orjson.loads(snapshot)["object"]["refund_due"] is True
    # A janitor pass afterwards changes nothing.
    await janitor(worker, {})
    assert await collections(owner_connection, intent["id"]) == 1
    await assert_verified(db, settings)


async def test_orange_webpay_gives_a_redirect(
    api: Api, worker: TaskContext, sims: RunningSimulators
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, provider="orange_money")
    assert intent["status"] == "processing"
    action = (await webpay_redirect(api.http, key, intent["id"]))["next_action"]
    assert action["type"] == "redirect_to_url"
    assert action["url"].startswith(sims.orange_url)


@pytest.mark.parametrize(
    "phone",
    ["+237670000012", "+237690000012", "+237670000010", "+237670000005"],
    ids=["mtn_transient_5xx", "orange_transient_5xx", "mtn_slow_answer", "mtn_delayed"],
)
async def test_a_retry_resends_the_same_reference_and_collects_once(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    phone: str,
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone=phone)
    done = await wait_for(api.http, key, intent["id"], {"succeeded"}, within=20)
    attempt = done["latest_attempt"]
    engine = sims.mtn if attempt["provider"] == "mtn_momo" else sims.orange
    # The operator holds one transaction for the attempt, under the reference we stored.
    ours = [t for t in engine.transactions.values() if t.external_id == attempt["id"]]
    assert [t.id for t in ours] == [attempt["operator_reference"]]
    assert ours[0].state == "succeeded"
    assert await collections(owner_connection, intent["id"]) == 1


async def test_an_operator_500_is_read_not_resent_and_fails_once_unknown(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    """MTN's 500 INTERNAL_PROCESSING_ERROR (sandbox number 46733123461): the request may exist,
    so the attempt waits for a status read; the operator never knew it, so it fails after
    `unknown_attempt_fail_after_seconds` (1 s here) and the intent can be tried again."""
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+46733123461")
    await asyncio.sleep(0.5)
    still = await wait_for(api.http, key, intent["id"], {"processing"})
    assert still["latest_attempt"]["status"] == "pending"
    await asyncio.sleep(1.0)
    assert (await janitor_finds(worker))[1] >= 1
    failed = await wait_for(api.http, key, intent["id"], {"requires_payment_method"})
    assert failed["last_payment_error"]["code"] == "operator_unavailable"
    assert await collections(owner_connection, intent["id"]) == 0


async def test_orange_webpay_payment_on_the_operator_page(
    api: Api,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
) -> None:
    """The payer pays on WebPay's page; Orange's notification echoes the notif_token we stored
    for the attempt, so it is verified (`passed`), then confirmed by a status read."""
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, provider="orange_money")
    url = (await webpay_redirect(api.http, key, intent["id"]))["next_action"]["url"]
    async with httpx.AsyncClient() as browser:
        page = await browser.post(url, data={"msisdn": "690000000", "action": "confirm"})
        assert page.status_code == 303, page.text
    done = await wait_for(api.http, key, intent["id"], {"succeeded"})
    assert done["latest_attempt"]["flow"] == "redirect"
    assert done["next_action"] is None
    assert await collections(owner_connection, intent["id"]) == 1
    verifications = [
        r["verification"]
        for r in await owner_connection.fetch("SELECT verification FROM provider_events")
    ]
    assert verifications
    assert set(verifications) == {"passed"}


async def test_a_forged_webpay_notification_is_kept_and_never_applied(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, provider="orange_money")
    attempt_id = (await webpay_redirect(api.http, key, intent["id"]))["latest_attempt"]["id"]
    forged = orjson.dumps({"status": "SUCCESS", "notif_token": "guessed", "txnid": "MP1"})
    response = await api.http.post(
        f"/v1/providers/orange_money/callback/{attempt_id}",
        content=forged,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    row = await owner_connection.fetchrow("SELECT verification, result FROM provider_events")
    assert row["verification"] == "failed"
    assert row["result"] == "token_mismatch"
    await asyncio.sleep(0.3)
    still = await wait_for(api.http, key, intent["id"], {"processing"})
    assert still["latest_attempt"]["status"] == "pending"
    assert await collections(owner_connection, intent["id"]) == 0


async def test_the_fee_is_rounded_half_up(
    api: Api, worker: TaskContext, owner_connection: asyncpg.Connection
) -> None:
    """2 % of 1 525 is 30.5: half up gives 31 (rounding down or to even would give 30)."""
    account = await api.signup()
    key = account.secret_key
    intent = await create(api.http, key, phone="+237670000000", amount=1525)
    done = await wait_for(api.http, key, intent["id"], {"succeeded"})
    assert (done["fee"], done["net"]) == (31, 1494)
    assert await balance(api.http, key) == {"pending": 1494, "available": 0}
