"""The two halves wired: a webhook's body is the Events API's event object, and the Events API
shows each event's deliveries (`pending_webhooks`, `delivery_success`), through the API, with a
real worker delivering to a real receiver."""

from __future__ import annotations

import asyncio
from typing import Any

from mboa.postgres import Database
from mboa.worker import TaskContext
from tests.events.helpers import list_events
from tests.events.test_stream import Reader
from tests.helpers import Api, bearer
from tests.webhooks.conftest import Behaviour, Receiver, create_endpoint, verify, write_event


async def retrieve(api: Api, key: str, event_id: str) -> dict[str, Any]:
    response = await api.http.get(f"/v1/events/{event_id}", headers=bearer(key))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def until_pending(api: Api, key: str, event_id: str, count: int) -> dict[str, Any]:
    for _ in range(400):
        event = await retrieve(api, key, event_id)
        if event["pending_webhooks"] == count:
            return event
        await asyncio.sleep(0.05)
    raise AssertionError(f"pending_webhooks stayed {event['pending_webhooks']}, not {count}")


async def listed_ids(api: Api, key: str, **params: Any) -> list[str]:
    return [e["id"] for e in (await list_events(api.http, key, limit=100, **params))["data"]]


async def test_a_delivered_body_is_the_api_event_object(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    account = await api.signup()
    key = account.secret_key
    endpoint = await create_endpoint(api, key, f"{receiver.url}/same")
    response = await api.http.post(
        "/v1/payment_intents",
        json={"amount": 1500, "currency": "XAF"},
        headers={**bearer(key), "Idempotency-Key": "order-7"},
    )
    assert response.status_code == 200, response.text
    intent = response.json()
    await receiver.wait_for(lambda: len(receiver.on("/same")) == 1)
    delivered = verify(endpoint["secret"], receiver.on("/same")[0])
    [event_id] = await listed_ids(api, key, object_id=intent["id"])
    served = await until_pending(api, key, event_id, 0)

    # Only `pending_webhooks` differs: the body has it as of its attempt (this delivery was
    # still pending then), the API as of the request (delivered since).
    assert delivered["pending_webhooks"] == 1
    assert {**delivered, "pending_webhooks": 0} == served
    assert delivered["api_version"] == served["api_version"] != ""
    assert delivered["sequence"] == 1
    assert delivered["request"] == {
        "id": response.headers["x-request-id"],
        "idempotency_key": "order-7",
    }
    assert delivered["data"] == {"object": intent, "previous_attributes": None}
    assert receiver.on("/same")[0].headers["webhook-id"] == event_id


async def test_pending_webhooks_and_delivery_success_follow_the_deliveries(
    api: Api, db: Database, receiver: Receiver, worker: TaskContext
) -> None:
    account = await api.signup()
    key = account.secret_key
    only = ["payment_intent.succeeded"]
    await create_endpoint(api, key, f"{receiver.url}/ok", events=only)
    flaky = await create_endpoint(api, key, f"{receiver.url}/flaky", events=only)
    receiver.behaviour["/flaky"] = Behaviour(status=500)
    # Not delivered anywhere (no endpoint takes its type): nothing pending, nothing failed.
    quiet = await write_event(db, account.merchant_id, type="payment_intent.created")
    event_id = await write_event(db, account.merchant_id)

    await receiver.wait_for(lambda: len(receiver.on("/ok")) == 1)
    await receiver.wait_for(lambda: len(receiver.on("/flaky")) >= 1)
    event = await until_pending(api, key, event_id, 1)  # /ok done, /flaky retrying
    assert await listed_ids(api, key, delivery_success="false") == [event_id]
    assert await listed_ids(api, key, delivery_success="true") == [quiet]
    assert {e["id"]: e["pending_webhooks"] for e in (await list_events(api.http, key))["data"]} == {
        event_id: 1,
        quiet: 0,
    }
    # The stream renders the same object (replayed after `quiet`).
    reader = Reader(api.http, key, last=quiet)
    try:
        assert await reader.until(1) == [event]
    finally:
        await reader.close()

    # /flaky recovers: its next retry succeeds and nothing is pending any more.
    receiver.behaviour["/flaky"] = Behaviour(status=200)
    await until_pending(api, key, event_id, 0)
    assert await listed_ids(api, key, delivery_success="false") == []
    assert await listed_ids(api, key, delivery_success="true") == [event_id, quiet]

    # A delivery given up (410 disables the endpoint) is no longer pending, but not a success.
    receiver.behaviour["/flaky"] = Behaviour(status=410)
    given_up = await write_event(db, account.merchant_id)
    await receiver.wait_for(lambda: len(receiver.on("/ok")) == 2)
    await until_pending(api, key, given_up, 0)
    assert await listed_ids(api, key, delivery_success="false") == [given_up]
    flaky_now = await api.http.get(f"/v1/webhook_endpoints/{flaky['id']}", headers=bearer(key))
    assert flaky_now.json()["status"] == "disabled"
