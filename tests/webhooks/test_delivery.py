"""Deliveries end to end: events written by the event writer, the fan-out trigger, the outbox,
a real worker, a real receiver verifying with the official `standardwebhooks` library."""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from typing import Any

import asyncpg

from mboa.config import Settings, WebhooksSettings
from mboa.kit.net import free_port
from mboa.postgres import Database
from mboa.worker import TaskContext
from tests.helpers import Api, assert_error, bearer
from tests.webhooks.conftest import (
    Behaviour,
    Receiver,
    create_endpoint,
    deliveries,
    running_worker,
    verifies,
    verify,
    webhook_settings,
    write_event,
)


async def test_an_event_is_delivered_once_signed_and_logged(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    account = await api.signup()
    key = account.secret_key
    endpoint = await create_endpoint(api, key, f"{receiver.url}/a")
    event_id = await write_event(db, account.merchant_id, type="payment_intent.succeeded")

    await receiver.wait_for(lambda: len(receiver.on("/a")) == 1, what="the delivery")
    request = receiver.on("/a")[0]
    payload = verify(endpoint["secret"], request)
    assert request.headers["webhook-id"] == event_id
    assert request.headers["content-type"] == "application/json"
    assert payload["id"] == event_id
    assert payload["object"] == "event"
    assert payload["type"] == "payment_intent.succeeded"
    assert payload["livemode"] is False
    assert payload["data"]["object"]["object"] == "payment_intent"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60

    async def logged() -> list[dict[str, object]]:
        for _ in range(100):
            rows = await deliveries(api, key, endpoint["id"])
            if rows and rows[0]["status"] == "succeeded":
                return rows
            await asyncio.sleep(0.05)
        raise AssertionError(rows)

    [delivery] = await logged()
    assert delivery["event"] == event_id
    assert delivery["attempt_count"] == 1
    [attempt] = delivery["attempts"]
    assert attempt["outcome"] == "succeeded"
    assert attempt["http_status"] == 200
    assert attempt["trigger"] == "automatic"
    assert isinstance(attempt["latency_ms"], int)
    assert attempt["response_body"] == "ok"
    assert attempt["next_retry_at"] is None
    await asyncio.sleep(0.3)
    assert len(receiver.on("/a")) == 1


async def test_only_enabled_endpoints_that_take_the_type_receive_it(
    api: Api,
    db: Database,
    receiver: Receiver,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
) -> None:
    account = await api.signup()
    key = account.secret_key
    await create_endpoint(api, key, f"{receiver.url}/refunds", events=["refund.succeeded"])
    await create_endpoint(api, key, f"{receiver.url}/all")
    off = await create_endpoint(api, key, f"{receiver.url}/off")
    await api.http.post(
        f"/v1/webhook_endpoints/{off['id']}", json={"status": "disabled"}, headers=bearer(key)
    )
    other = await api.signup()  # a merchant without endpoints: no fan-out job at all
    await write_event(db, other.merchant_id)
    assert (
        await owner_connection.fetchval(
            "SELECT count(*) FROM outbox WHERE task = 'webhooks.fan_out'"
        )
        == 0
    )

    await write_event(db, account.merchant_id, type="payment_intent.succeeded")
    await write_event(db, account.merchant_id, type="refund.succeeded")
    await receiver.wait_for(lambda: len(receiver.on("/all")) == 2)
    await receiver.wait_for(lambda: len(receiver.on("/refunds")) == 1)
    await asyncio.sleep(0.3)
    assert [r.headers["webhook-id"] for r in receiver.on("/refunds")] == [
        receiver.on("/all")[1].headers["webhook-id"]
    ]
    assert receiver.on("/off") == []


async def test_a_payment_intent_created_through_the_api_is_delivered(
    api: Api, receiver: Receiver, worker: TaskContext
) -> None:
    account = await api.signup()
    endpoint = await create_endpoint(
        api, account.secret_key, f"{receiver.url}/pi", events=["payment_intent.created"]
    )
    response = await api.http.post(
        "/v1/payment_intents",
        json={"amount": 1500, "currency": "XAF", "phone": "+237670000000"},
        headers=bearer(account.secret_key),
    )
    assert response.status_code == 200, response.text
    await receiver.wait_for(lambda: len(receiver.on("/pi")) == 1)
    payload = verify(endpoint["secret"], receiver.on("/pi")[0])
    assert payload["type"] == "payment_intent.created"
    assert payload["data"]["object"]["id"] == response.json()["id"]


async def test_resend_repeats_the_same_webhook_id_and_logs_a_new_attempt(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    account = await api.signup()
    key = account.secret_key
    first = await create_endpoint(api, key, f"{receiver.url}/one")
    # Created after the event: it never had a delivery of it.
    event_id = await write_event(db, account.merchant_id)
    await receiver.wait_for(lambda: len(receiver.on("/one")) == 1)
    second = await create_endpoint(api, key, f"{receiver.url}/two", events=["payout.paid"])

    resent = await api.http.post(f"/v1/events/{event_id}/resend", headers=bearer(key))
    assert resent.status_code == 200, resent.text
    assert [d["webhook_endpoint"] for d in resent.json()["deliveries"]] == [first["id"]]
    await receiver.wait_for(lambda: len(receiver.on("/one")) == 2)

    one = await api.http.post(
        f"/v1/events/{event_id}/resend", json={"endpoint": second["id"]}, headers=bearer(key)
    )
    assert one.status_code == 200, one.text
    await receiver.wait_for(lambda: len(receiver.on("/two")) == 1)

    for request, endpoint in [
        *((r, first) for r in receiver.on("/one")),
        (receiver.on("/two")[0], second),
    ]:
        assert request.headers["webhook-id"] == event_id
        assert verify(str(endpoint["secret"]), request)["id"] == event_id

    async def attempts(endpoint_id: str, count: int) -> list[dict[str, object]]:
        for _ in range(100):
            [delivery] = await deliveries(api, key, endpoint_id, event=event_id)
            if len(delivery["attempts"]) == count and delivery["status"] == "succeeded":
                return list(delivery["attempts"])
            await asyncio.sleep(0.05)
        raise AssertionError(delivery)

    logged = await attempts(first["id"], 2)
    assert [a["trigger"] for a in logged] == ["resend", "automatic"]  # newest first
    assert [a["trigger"] for a in await attempts(second["id"], 1)] == ["resend"]

    other = await api.signup()
    refused = await api.http.post(f"/v1/events/{event_id}/resend", headers=bearer(other.secret_key))
    assert_error(refused, 404, code="resource_missing")
    unknown = await api.http.post(
        f"/v1/events/{event_id}/resend", json={"endpoint": "we_nope"}, headers=bearer(key)
    )
    assert_error(unknown, 404, param="endpoint")


async def test_410_gone_disables_the_endpoint_with_an_event_and_a_notice(
    api: Api,
    db: Database,
    receiver: Receiver,
    worker: TaskContext,
    owner_connection: asyncpg.Connection,
) -> None:
    account = await api.signup()
    key = account.secret_key
    gone = await create_endpoint(api, key, f"{receiver.url}/gone")
    watcher = await create_endpoint(
        api, key, f"{receiver.url}/watch", events=["webhook_endpoint.disabled"]
    )
    receiver.behaviour["/gone"] = Behaviour(status=410)
    await write_event(db, account.merchant_id)

    await receiver.wait_for(lambda: len(receiver.on("/watch")) == 1, what="the disabled event")
    payload = verify(watcher["secret"], receiver.on("/watch")[0])
    assert payload["type"] == "webhook_endpoint.disabled"
    assert payload["data"]["object"]["id"] == gone["id"]
    assert payload["data"]["object"]["status"] == "disabled"
    assert "secret" not in payload["data"]["object"]

    fetched = await api.http.get(f"/v1/webhook_endpoints/{gone['id']}", headers=bearer(key))
    assert fetched.json()["status"] == "disabled"
    assert fetched.json()["disabled_reason"] == "gone"
    [delivery] = await deliveries(api, key, gone["id"], outcome="failed")
    assert delivery["attempts"][0]["http_status"] == 410
    notice = await owner_connection.fetchrow("SELECT * FROM notifications")
    assert notice is not None
    assert notice["kind"] == "webhook_endpoint.disabled"
    assert notice["merchant_id"] == account.merchant_id
    assert orjson_loads(notice["recipients"]) == [account.email]
    assert gone["id"] in notice["body"]
    assert len(receiver.on("/gone")) == 1  # nothing more is sent to it


def orjson_loads(value: object) -> object:
    import orjson

    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def test_redirects_are_not_followed_and_count_as_failures(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    account = await api.signup()
    key = account.secret_key
    endpoint = await create_endpoint(api, key, f"{receiver.url}/moved")
    receiver.behaviour["/moved"] = Behaviour(status=302, headers={"location": "/elsewhere"})
    await write_event(db, account.merchant_id)
    await receiver.wait_for(lambda: len(receiver.on("/moved")) == 1)
    for _ in range(100):
        [delivery] = await deliveries(api, key, endpoint["id"])
        if delivery["attempts"]:
            break
        await asyncio.sleep(0.05)
    attempt = delivery["attempts"][0]
    assert attempt["http_status"] == 302
    assert attempt["outcome"] == "failed"
    assert attempt["error"] == "redirects are not followed"
    assert delivery["status"] == "pending"
    assert attempt["next_retry_at"] is not None
    assert receiver.on("/elsewhere") == []


async def test_live_mode_refuses_loopback_targets_resolved_at_send_time(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    """`localhost` resolves (system resolver) to a loopback address: a live endpoint may be
    saved with the name, but no attempt ever connects to it."""
    account, live_key = await api.live_account()
    port = int(receiver.url.rsplit(":", 1)[1])
    endpoint = await create_endpoint(api, live_key, f"https://localhost:{port}/live")
    await write_event(db, account.merchant_id, livemode=True)
    for _ in range(200):
        rows = await deliveries(api, live_key, endpoint["id"])
        if rows and rows[0]["attempts"]:
            break
        await asyncio.sleep(0.05)
    attempt = rows[0]["attempts"][0]
    assert attempt["outcome"] == "failed"
    assert attempt["http_status"] is None
    assert "refused" in attempt["error"]
    assert "loopback" in attempt["error"]
    assert receiver.requests == []


async def test_a_refused_connection_is_a_failure_retried_later(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    account = await api.signup()
    key = account.secret_key
    endpoint = await create_endpoint(api, key, f"http://127.0.0.1:{free_port()}/closed")
    await write_event(db, account.merchant_id)
    for _ in range(200):
        rows = await deliveries(api, key, endpoint["id"])
        if rows and rows[0]["attempts"]:
            break
        await asyncio.sleep(0.05)
    assert rows[0]["attempts"][0]["outcome"] == "failed"
    assert rows[0]["attempts"][0]["error"].startswith("ConnectError")
    assert rows[0]["status"] == "pending"


async def test_a_slow_endpoint_holds_at_most_its_cap_and_never_starves_a_fast_one(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    """The worker runs 8 webhook jobs at once and an endpoint may use 2 (`queue_concurrency`,
    FAST settings): with
    twelve deliveries to a slow endpoint queued first, a fast endpoint still gets its twelve at
    once."""
    account = await api.signup()
    key = account.secret_key
    slow = await create_endpoint(api, key, f"{receiver.url}/slow")
    receiver.behaviour["/slow"] = Behaviour(delay=2.0)
    other = await api.signup()
    fast = await create_endpoint(api, other.secret_key, f"{receiver.url}/fast")
    for _ in range(12):
        await write_event(db, account.merchant_id)
    await receiver.wait_for(lambda: len(receiver.on("/slow")) >= 1)
    for _ in range(12):
        await write_event(db, other.merchant_id)
    await receiver.wait_for(lambda: len(receiver.on("/fast")) == 12, within=30)
    # Without the cap the slow endpoint's twelve jobs would fill the queue's eight slots and
    # the fast ones would wait behind them: the fast twelve would come after the slow twelve.
    assert len(receiver.on("/slow")) < 12, "the fast endpoint waited for the slow one"
    await receiver.wait_for(lambda: len(receiver.on("/slow")) == 12, within=60)
    assert receiver.max_in_flight["/slow"] <= 2
    assert all(verifies(slow["secret"], r) for r in receiver.on("/slow"))
    assert all(verifies(fast["secret"], r) for r in receiver.on("/fast"))


async def _first_attempt(api: Api, key: str, endpoint_id: str) -> dict[str, Any]:
    for _ in range(200):
        rows = await deliveries(api, key, endpoint_id)
        if rows and rows[0]["attempts"]:
            return dict(rows[0]["attempts"][-1])  # newest first: the last is the first
        await asyncio.sleep(0.05)
    raise AssertionError(f"no attempt logged for {endpoint_id}")


async def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt_retried_later(
    api: Api,
    db: Database,
    receiver: Receiver,
    settings: Settings,
    database_url: str,
    redis_url: str,
) -> None:
    assert WebhooksSettings().timeout_seconds == 10.0  # the 10 s, by default
    account = await api.signup()
    key = account.secret_key
    endpoint = await create_endpoint(api, key, f"{receiver.url}/slow")
    receiver.behaviour["/slow"] = Behaviour(delay=2.0)
    configured = webhook_settings(settings, redis_url, timeout_seconds=0.5)
    async with running_worker(configured, database_url, redis_url):
        await write_event(db, account.merchant_id)
        attempt = await _first_attempt(api, key, endpoint["id"])
    assert len(receiver.on("/slow")) >= 1  # the request did reach the receiver
    assert attempt["outcome"] == "failed"
    assert attempt["http_status"] is None
    assert attempt["error"] == "timed out after 0.5 s"
    assert attempt["response_body"] is None
    assert 500 <= attempt["latency_ms"] < 2000
    assert attempt["next_retry_at"] is not None
    [delivery] = await deliveries(api, key, endpoint["id"])
    assert delivery["status"] in ("pending", "succeeded")  # retried: never given up at once


BODY_5_KB = "".join(f"{i:05d}é" for i in range(900)).encode()[:5120]  # é: 2 bytes in UTF-8


async def test_the_log_keeps_the_first_2_kb_of_the_answer_decoded(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    """A 5 KB answer is logged as its first 2 048 bytes; a gzip or deflate one is logged as the
    text it encodes (decoded, 2 KB of it), not as compressed bytes."""
    assert len(BODY_5_KB) == 5120
    start = BODY_5_KB[:2048].decode()  # byte 2 048 falls between characters
    account = await api.signup()
    key = account.secret_key
    answers = {
        "/plain": Behaviour(body=BODY_5_KB),
        "/gzip": Behaviour(headers={"content-encoding": "gzip"}, body=gzip.compress(BODY_5_KB)),
        "/deflate": Behaviour(
            headers={"content-encoding": "deflate"}, body=zlib.compress(BODY_5_KB)
        ),
        "/raw-deflate": Behaviour(headers={"content-encoding": "deflate"}, body=_raw_deflate()),
        # Announced as gzip, sent plain: logged as received.
        "/not-gzip": Behaviour(headers={"content-encoding": "gzip"}, body=BODY_5_KB),
        # 64 MiB of zeros in a 65 KB answer: only the first 2 KB of it is ever inflated.
        "/bomb": Behaviour(headers={"content-encoding": "gzip"}, body=_gzip_of_zeros(64 << 20)),
    }
    endpoints = {}
    for path, behaviour in answers.items():
        receiver.behaviour[path] = behaviour
        endpoints[path] = await create_endpoint(api, key, f"{receiver.url}{path}")
    await write_event(db, account.merchant_id)
    logged = {path: await _first_attempt(api, key, e["id"]) for path, e in endpoints.items()}
    for path in ("/plain", "/gzip", "/deflate", "/raw-deflate", "/not-gzip"):
        attempt = logged[path]
        assert attempt["outcome"] == "succeeded", (path, attempt)
        assert attempt["response_body"] == start, path  # exactly the first 2 048 bytes
    # NUL cannot be stored in a text column: the log shows each as U+FFFD.
    assert logged["/bomb"]["outcome"] == "succeeded"
    assert logged["/bomb"]["response_body"] == "\ufffd" * 2048


def _raw_deflate() -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)  # no zlib header
    return packer.compress(BODY_5_KB) + packer.flush()


def _gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(size >> 20)), packer.flush()])


async def test_live_mode_refuses_a_name_resolving_to_a_public_and_a_private_address(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext, dns: dict[str, list[str]]
) -> None:
    """Resolved at send time, every address checked: a public first answer does not hide the
    private one behind it (the request would otherwise go out to the public address)."""
    dns["hooks.shop.example"] = ["93.184.216.34", "10.0.0.7"]
    account, live_key = await api.live_account()
    endpoint = await create_endpoint(api, live_key, "https://hooks.shop.example/in")
    await write_event(db, account.merchant_id, livemode=True)
    attempt = await _first_attempt(api, live_key, endpoint["id"])
    assert attempt["outcome"] == "failed"
    assert attempt["http_status"] is None
    assert attempt["error"] == (
        "refused: hooks.shop.example resolves to 10.0.0.7, a private address"
    )
    assert attempt["next_retry_at"] is not None
