"""The retry schedule and the secret roll, on a controllable clock (`time-machine`: the process's
wall clock, which our code, the receiver's official verifier and the ids all read); the jobs the
outbox holds are run by hand when the clock reaches them."""

from __future__ import annotations

import datetime as dt

import asyncpg
import time_machine

from mboa.config import WebhooksSettings
from mboa.postgres import Database
from mboa.webhooks.schedule import retry_window
from mboa.worker import TaskContext
from tests.helpers import Api, bearer
from tests.webhooks.conftest import (
    Behaviour,
    Receiver,
    create_endpoint,
    run_outbox,
    verifies,
    write_event,
)

DAY = 86_400


async def test_a_failing_endpoint_is_retried_for_three_days_then_disabled(
    api: Api,
    db: Database,
    receiver: Receiver,
    by_hand: TaskContext,
    owner_connection: asyncpg.Connection,
) -> None:
    settings = by_hand.settings.webhooks
    defaults = WebhooksSettings()
    assert (settings.retry_for_seconds, settings.disable_after_seconds) == (3 * DAY, 3 * DAY)
    assert (settings.retry_base_seconds, settings.retry_max_interval_seconds) == (
        defaults.retry_base_seconds,
        defaults.retry_max_interval_seconds,
    )
    account = await api.signup()
    endpoint = await create_endpoint(api, account.secret_key, f"{receiver.url}/down")
    receiver.behaviour["/down"] = Behaviour(status=503, body=b"maintenance")

    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=True) as clock:
        event_id = await write_event(db, account.merchant_id)
        assert await run_outbox(by_hand, owner_connection) == ["webhooks.fan_out"]
        assert await run_outbox(by_hand, owner_connection) == ["webhooks.deliver"]
        attempts_at = [dt.datetime.now(dt.UTC)]
        while True:
            delivery = await owner_connection.fetchrow(
                "SELECT status, next_attempt_at, attempt_count FROM webhook_deliveries"
            )
            assert delivery is not None
            if delivery["status"] != "pending":
                break
            failures = delivery["attempt_count"]
            wait = (delivery["next_attempt_at"] - attempts_at[-1]).total_seconds()
            # full jitter within the window of this failure (and never sooner than 1 s)
            assert 1.0 <= wait <= retry_window(settings, failures) + 1, (failures, wait)
            assert failures < 100
            clock.move_to(delivery["next_attempt_at"])
            attempts_at.append(dt.datetime.now(dt.UTC))
            assert await run_outbox(by_hand, owner_connection) == ["webhooks.deliver"]

        span = (attempts_at[-1] - attempts_at[0]).total_seconds()
        assert 3 * DAY <= span <= 3 * DAY + settings.retry_max_interval_seconds + 60, span
        assert delivery["status"] == "failed"
        assert delivery["next_attempt_at"] is None

    # Every attempt reached the receiver, with the same webhook-id, verifiable when it was sent.
    requests = receiver.on("/down")
    assert len(requests) == len(attempts_at) == delivery["attempt_count"]
    assert {r.headers["webhook-id"] for r in requests} == {event_id}
    log = await owner_connection.fetch(
        "SELECT outcome, http_status, response_body, next_retry_at FROM webhook_attempts"
        " ORDER BY id"
    )
    assert [r["http_status"] for r in log] == [503] * len(requests)
    assert {r["response_body"] for r in log} == {"maintenance"}
    assert all(r["next_retry_at"] is not None for r in log[:-1])
    assert log[-1]["next_retry_at"] is None

    # Failing for three days disabled the endpoint, wrote the event and the owners' notice.
    row = await owner_connection.fetchrow(
        "SELECT status, disabled_reason FROM webhook_endpoints WHERE id = $1", endpoint["id"]
    )
    assert row is not None
    assert (row["status"], row["disabled_reason"]) == ("disabled", "failing")
    disabled = await owner_connection.fetchval(
        "SELECT data FROM events WHERE type = 'webhook_endpoint.disabled'"
    )
    assert endpoint["id"] in disabled
    assert await owner_connection.fetchval("SELECT count(*) FROM notifications") == 1


async def test_a_success_resets_the_failing_clock(
    api: Api,
    db: Database,
    receiver: Receiver,
    by_hand: TaskContext,
    owner_connection: asyncpg.Connection,
) -> None:
    account = await api.signup()
    await create_endpoint(api, account.secret_key, f"{receiver.url}/flaky")
    receiver.behaviour["/flaky"] = Behaviour(status=500)
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=True) as clock:
        await write_event(db, account.merchant_id)
        await run_outbox(by_hand, owner_connection)
        await run_outbox(by_hand, owner_connection)
        assert await owner_connection.fetchval("SELECT failing_since FROM webhook_endpoints")
        receiver.behaviour["/flaky"] = Behaviour(status=204)
        due = await owner_connection.fetchval("SELECT next_attempt_at FROM webhook_deliveries")
        clock.move_to(due)
        await run_outbox(by_hand, owner_connection)
        assert await owner_connection.fetchval("SELECT status FROM webhook_deliveries") == (
            "succeeded"
        )
        assert await owner_connection.fetchval("SELECT failing_since FROM webhook_endpoints") is (
            None
        )


async def test_during_a_roll_both_secrets_sign_and_only_the_new_one_after(
    api: Api,
    db: Database,
    receiver: Receiver,
    by_hand: TaskContext,
    owner_connection: asyncpg.Connection,
) -> None:
    account = await api.signup()
    key = account.secret_key
    endpoint = await create_endpoint(api, key, f"{receiver.url}/roll")
    old = endpoint["secret"]
    rolled = await api.http.post(
        f"/v1/webhook_endpoints/{endpoint['id']}/roll_secret",
        json={"expires_in": 3600},
        headers=bearer(key),
    )
    assert rolled.status_code == 200, rolled.text
    new = rolled.json()["secret"]

    await write_event(db, account.merchant_id)
    await run_outbox(by_hand, owner_connection)
    await run_outbox(by_hand, owner_connection)
    during = receiver.on("/roll")[0]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verifies(old, during)
    assert verifies(new, during)

    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3601)
    with time_machine.travel(later, tick=True):
        await write_event(db, account.merchant_id)
        await run_outbox(by_hand, owner_connection)
        await run_outbox(by_hand, owner_connection)
        after = receiver.on("/roll")[1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert verifies(new, after)
        assert not verifies(old, after)

    # A roll with no overlap: the old secret stops at once.
    await api.http.post(
        f"/v1/webhook_endpoints/{endpoint['id']}/roll_secret", json={}, headers=bearer(key)
    )
    await write_event(db, account.merchant_id)
    await run_outbox(by_hand, owner_connection)
    await run_outbox(by_hand, owner_connection)
    assert not verifies(new, receiver.on("/roll")[2])
