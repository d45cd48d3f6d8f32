"""Payment intents through the real API, without a worker: what a request writes, what it
refuses (nothing written), and who may see it. The operator side is test_flow.py."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from tests.helpers import Api, assert_error, bearer

MTN_OK = "+237670000000"
ORANGE_OK = "+237690000000"


async def create(http: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await http.post(
        "/v1/payment_intents", json={"amount": 1500, "currency": "XAF", **body}, headers=bearer(key)
    )


async def counts(owner: asyncpg.Connection) -> tuple[int, int, int, int]:
    row = await owner.fetchrow(
        "SELECT (SELECT count(*) FROM payment_intents), (SELECT count(*) FROM payment_attempts),"
        " (SELECT count(*) FROM events), (SELECT count(*) FROM outbox)"
    )
    assert row is not None
    return row[0], row[1], row[2], row[3]


async def test_create_without_phone_waits_for_a_payment_method(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    response = await create(
        api.http,
        account.secret_key,
        reference="order-1",
        description="Order 1",
        metadata={"order": "1"},
    )
    assert response.status_code == 200, response.text
    intent = response.json()
    assert intent["id"].startswith("pi_")
    assert intent["object"] == "payment_intent"
    assert intent["status"] == "requires_payment_method"
    assert intent["livemode"] is False
    assert intent["amount"] == 1500
    assert intent["currency"] == "XAF"
    assert intent["amount_received"] == intent["fee"] == intent["net"] == 0
    assert intent["amount_refunded"] == 0
    assert intent["latest_attempt"] is None
    assert intent["next_action"] is None
    assert intent["expires_at"] - intent["created"] in (3599, 3600, 3601)
    assert await counts(owner_connection) == (1, 0, 1, 0)
    event = await owner_connection.fetchrow("SELECT * FROM events")
    assert event["id"].startswith("evt_")
    assert event["type"] == "payment_intent.created"
    assert orjson.loads(event["data"])["object"]["id"] == intent["id"]


async def test_create_with_phone_writes_intent_attempt_job_and_events_in_one_commit(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    response = await create(api.http, account.secret_key, phone="6 70 00 00 00")
    assert response.status_code == 200, response.text
    intent = response.json()
    assert intent["status"] == "processing"
    assert intent["provider"] == "mtn_momo"
    attempt = intent["latest_attempt"]
    assert attempt["id"].startswith("pat_")
    assert attempt["status"] == "pending"
    assert attempt["phone"] != MTN_OK
    assert attempt["phone"].endswith("00")
    # Our reference exists before any operator call (MTN: a UUID v4 of ours).
    assert len(attempt["operator_reference"]) == 36
    assert await counts(owner_connection) == (1, 1, 2, 1)
    job = await owner_connection.fetchrow("SELECT task, job_id, payload FROM outbox")
    assert job["task"] == "payments.initiate"
    assert job["job_id"] == f"payments.initiate:{attempt['id']}"
    types = [r["type"] for r in await owner_connection.fetch("SELECT type FROM events ORDER BY id")]
    assert types == ["payment_intent.created", "payment_intent.processing"]


async def test_orange_number_is_detected_and_orange_reference_waits_for_the_worker(
    api: Api,
) -> None:
    account = await api.signup()
    intent = (await create(api.http, account.secret_key, phone=ORANGE_OK)).json()
    assert intent["provider"] == "orange_money"
    assert intent["latest_attempt"]["operator_reference"] is None  # mp/init runs in the worker


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"currency": "EUR"}, 400, "currency_unsupported", "currency"),
        ({"amount": 0}, 400, "amount_too_small", "amount"),
        ({"amount": -5}, 400, "amount_too_small", "amount"),
        ({"amount": 99}, 400, "amount_too_small", "amount"),
        ({"amount": 1_000_001}, 400, "amount_too_large", "amount"),
        ({"amount": 10.5}, 400, None, "amount"),
        ({"amount": "1500"}, 400, None, "amount"),
        ({"phone": "+237662000000"}, 400, "phone_number_unsupported", "phone"),  # Nexttel
        ({"phone": "+237222000000"}, 400, "phone_number_unsupported", "phone"),  # Camtel fixed
        ({"phone": "+33612345678"}, 400, "phone_number_unsupported", "phone"),  # foreign
        ({"phone": "hello"}, 400, "phone_number_invalid", "phone"),
        ({"provider": "nexttel"}, 400, None, "provider"),
        ({"expires_in": 5}, 400, "parameter_invalid", "expires_in"),
        ({"customer": "cus_nope"}, 404, "resource_missing", "customer"),
        ({"surprise": 1}, 400, None, "surprise"),
    ],
)
async def test_bad_input_names_the_param_and_writes_nothing(
    api: Api,
    owner_connection: asyncpg.Connection,
    body: dict[str, Any],
    status: int,
    code: str | None,
    param: str,
) -> None:
    account = await api.signup()
    response = await create(api.http, account.secret_key, **body)
    assert_error(response, status, code=code, param=param)
    assert await counts(owner_connection) == (0, 0, 0, 0)


async def test_per_operator_limit_applies_to_the_detected_operator(
    api: Api, owner_connection: asyncpg.Connection, app_state: Any
) -> None:
    limits = app_state.settings.payments.max_amount
    assert limits["mtn_momo"] == 1_000_000  # the default the parametrised test relies on
    account = await api.signup()
    original = dict(limits)
    limits["orange_money"] = 5000
    try:
        response = await create(api.http, account.secret_key, amount=6000, phone=ORANGE_OK)
        assert_error(response, 400, code="amount_too_large", param="amount")
        assert await counts(owner_connection) == (0, 0, 0, 0)
        ok = await create(api.http, account.secret_key, amount=6000, phone=MTN_OK)
        assert ok.status_code == 200, ok.text
    finally:
        limits.clear()
        limits.update(original)


async def test_duplicate_reference_is_refused_per_merchant_and_mode(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account, other = await api.signup(), await api.signup()
    assert (await create(api.http, account.secret_key, reference="r-1")).status_code == 200
    response = await create(api.http, account.secret_key, reference="r-1", phone=MTN_OK)
    assert_error(response, 400, code="reference_taken", param="reference")
    assert await counts(owner_connection) == (1, 0, 1, 0)
    # Another merchant may use the same reference.
    assert (await create(api.http, other.secret_key, reference="r-1")).status_code == 200


async def test_confirm_then_cancel_rules(api: Api, owner_connection: asyncpg.Connection) -> None:
    account = await api.signup()
    key = account.secret_key
    intent = (await create(api.http, key)).json()
    url = f"/v1/payment_intents/{intent['id']}"
    confirmed = await api.http.post(f"{url}/confirm", json={"phone": MTN_OK}, headers=bearer(key))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "processing"
    # A second attempt while one runs, or a cancel while it runs: 409, nothing written.
    before = await counts(owner_connection)
    again = await api.http.post(f"{url}/confirm", json={"phone": MTN_OK}, headers=bearer(key))
    assert_error(again, 409, code="payment_intent_unexpected_state")
    cancel = await api.http.post(f"{url}/cancel", headers=bearer(key))
    assert_error(cancel, 409, code="payment_intent_unexpected_state")
    assert await counts(owner_connection) == before

    waiting = (await create(api.http, key)).json()
    url = f"/v1/payment_intents/{waiting['id']}"
    canceled = await api.http.post(
        f"{url}/cancel", json={"cancellation_reason": "requested_by_customer"}, headers=bearer(key)
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["cancellation_reason"] == "requested_by_customer"
    assert canceled.json()["canceled_at"] is not None
    for action in ("confirm", "cancel"):
        response = await api.http.post(
            f"{url}/{action}",
            json={"phone": MTN_OK} if action == "confirm" else None,
            headers=bearer(key),
        )
        assert_error(response, 409, code="payment_intent_unexpected_state")
    types = {r["type"] for r in await owner_connection.fetch("SELECT type FROM events")}
    assert "payment_intent.canceled" in types


async def test_mtn_without_phone_cannot_be_confirmed(api: Api) -> None:
    account = await api.signup()
    intent = (await create(api.http, account.secret_key)).json()
    response = await api.http.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        json={"provider": "mtn_momo"},
        headers=bearer(account.secret_key),
    )
    assert_error(response, 400, param="phone")


async def test_retrieve_on_the_read_path_and_list_with_filters(api: Api) -> None:
    account = await api.signup()
    key = account.secret_key
    customer = await api.create_customer(key, name="Ama")
    first = (await create(api.http, key, reference="a", customer=customer["id"])).json()
    second = (await create(api.http, key, reference="b", phone=MTN_OK)).json()
    third = (await create(api.http, key, reference="c", phone=ORANGE_OK)).json()

    got = await api.http.get(f"/v1/payment_intents/{second['id']}", headers=bearer(key))
    assert got.status_code == 200, got.text
    assert got.json() == second

    async def ids(**params: Any) -> list[str]:
        response = await api.http.get("/v1/payment_intents", params=params, headers=bearer(key))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    assert await ids() == [third["id"], second["id"], first["id"]]
    assert await ids(status="processing") == [third["id"], second["id"]]
    assert await ids(provider="orange_money") == [third["id"]]
    assert await ids(reference="a") == [first["id"]]
    assert await ids(customer=customer["id"]) == [first["id"]]
    assert await ids(phone="670000000") == [second["id"]]
    assert await ids(limit=1, starting_after=third["id"]) == [second["id"]]
    assert await ids(**{"created[gte]": first["created"]}) == [
        third["id"],
        second["id"],
        first["id"],
    ]
    unknown = await api.http.get(
        "/v1/payment_intents", params={"statuss": "x"}, headers=bearer(key)
    )
    assert_error(unknown, 400, code="parameter_unknown")
    bad = await api.http.get("/v1/payment_intents", params={"status": "x"}, headers=bearer(key))
    assert_error(bad, 400, param="status")


async def test_another_merchant_or_mode_sees_nothing(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    """Every payment-intent route, called by another merchant and by the same merchant's key of
    the other mode: 404 or an empty list, nothing written, the owner's intents untouched."""
    account, other = await api.signup(), await api.signup()
    intent = (await create(api.http, account.secret_key, phone=MTN_OK, reference="r-1")).json()
    waiting = (await create(api.http, account.secret_key)).json()
    await api.approve(account)
    live = (await api.create_key(account, livemode=True))["secret"]
    before = await counts(owner_connection)
    for stranger in (other.secret_key, live):
        headers = bearer(stranger)
        for shown in (intent, waiting):
            url = f"/v1/payment_intents/{shown['id']}"
            assert_error(await api.http.get(url, headers=headers), 404, code="resource_missing")
            # A body that would be accepted, so the 404 cannot come from validation.
            confirm = await api.http.post(f"{url}/confirm", json={"phone": MTN_OK}, headers=headers)
            assert_error(confirm, 404, code="resource_missing")
            cancel = await api.http.post(
                f"{url}/cancel",
                json={"cancellation_reason": "requested_by_customer"},
                headers=headers,
            )
            assert_error(cancel, 404, code="resource_missing")
        for params in ({}, {"reference": "r-1"}, {"phone": MTN_OK}, {"status": "processing"}):
            listed = await api.http.get("/v1/payment_intents", params=params, headers=headers)
            assert listed.status_code == 200, listed.text
            assert listed.json()["data"] == [], params
    assert await counts(owner_connection) == before
    mine = bearer(account.secret_key)
    for shown, status in ((intent, "processing"), (waiting, "requires_payment_method")):
        got = await api.http.get(f"/v1/payment_intents/{shown['id']}", headers=mine)
        assert got.json()["status"] == status
    listed = await api.http.get("/v1/payment_intents", headers=mine)
    assert {i["id"] for i in listed.json()["data"]} == {intent["id"], waiting["id"]}


async def test_a_reference_is_unique_per_merchant_and_mode(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account, other = await api.signup(), await api.signup()
    await api.approve(account)
    live = (await api.create_key(account, livemode=True))["secret"]
    test_intent = await create(api.http, account.secret_key, reference="order-7")
    assert test_intent.status_code == 200, test_intent.text
    # The same reference in the other mode, and at another merchant: other intents.
    live_intent = await create(api.http, live, reference="order-7")
    assert live_intent.status_code == 200, live_intent.text
    assert live_intent.json()["livemode"] is True
    elsewhere = await create(api.http, other.secret_key, reference="order-7")
    assert elsewhere.status_code == 200, elsewhere.text
    assert len({r.json()["id"] for r in (test_intent, live_intent, elsewhere)}) == 3
    # Taken within each merchant and mode; nothing written.
    before = await counts(owner_connection)
    for key in (account.secret_key, live, other.secret_key):
        again = await create(api.http, key, reference="order-7")
        assert_error(again, 400, code="reference_taken", param="reference")
    assert await counts(owner_connection) == before
    # Each mode lists its own.
    for key, expected in ((account.secret_key, test_intent), (live, live_intent)):
        listed = await api.http.get(
            "/v1/payment_intents", params={"reference": "order-7"}, headers=bearer(key)
        )
        assert [i["id"] for i in listed.json()["data"]] == [expected.json()["id"]]


async def test_permissions(api: Api) -> None:
    account = await api.signup()
    read_only = await api.create_key(account, type="restricted", scopes=["payment_intents:read"])
    headers = bearer(read_only["secret"])
    assert (await api.http.get("/v1/payment_intents", headers=headers)).status_code == 200
    response = await create(api.http, read_only["secret"])
    assert_error(response, 403)
    publishable = await api.http.get("/v1/payment_intents", headers=bearer(account.publishable_key))
    assert publishable.status_code in (401, 403)


async def test_idempotency_key_replays_the_creation(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    headers = {**bearer(account.secret_key), "Idempotency-Key": "k-1"}
    body = {"amount": 1500, "currency": "XAF", "phone": MTN_OK}
    first = await api.http.post("/v1/payment_intents", json=body, headers=headers)
    second = await api.http.post("/v1/payment_intents", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("idempotent-replayed") == "true"
    assert first.json() == second.json()
    assert await counts(owner_connection) == (1, 1, 2, 1)


async def test_an_expired_intent_cannot_be_confirmed(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await api.signup()
    intent = (await create(api.http, account.secret_key)).json()
    await owner_connection.execute("UPDATE payment_intents SET expires_at = now()")
    response = await api.http.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        json={"phone": MTN_OK},
        headers=bearer(account.secret_key),
    )
    assert_error(response, 409, code="payment_intent_unexpected_state")
    assert await owner_connection.fetchval("SELECT count(*) FROM payment_attempts") == 0
