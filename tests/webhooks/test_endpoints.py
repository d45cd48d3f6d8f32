"""Webhook endpoints through the real API: validation, the secret shown once and encrypted at
rest, roll, limits, permissions and tenant isolation."""

from __future__ import annotations

import asyncpg
import pytest
from cryptography.exceptions import InvalidTag

from mboa.config import Settings
from mboa.webhooks.crypto import secret_box
from tests.helpers import Api, assert_error, bearer
from tests.webhooks.conftest import create_endpoint

URL = "https://shop.example.cm/hooks"


async def test_create_list_retrieve_update_delete(api: Api) -> None:
    account = await api.signup()
    key = account.secret_key
    created = await create_endpoint(
        api,
        key,
        URL,
        events=["payment_intent.succeeded", "refund.succeeded"],
        description="orders",
        metadata={"team": "shop"},
    )
    assert created["id"].startswith("we_")
    assert created["object"] == "webhook_endpoint"
    assert created["livemode"] is False
    assert created["status"] == "enabled"
    assert created["secret"].startswith("whsec_")
    assert created["enabled_events"] == ["payment_intent.succeeded", "refund.succeeded"]

    fetched = await api.http.get(f"/v1/webhook_endpoints/{created['id']}", headers=bearer(key))
    assert fetched.status_code == 200
    assert fetched.json()["secret"] is None
    assert {k: v for k, v in fetched.json().items() if k != "secret"} == {
        k: v for k, v in created.items() if k != "secret"
    }

    listed = await api.http.get("/v1/webhook_endpoints", headers=bearer(key))
    assert [e["id"] for e in listed.json()["data"]] == [created["id"]]
    assert all(e["secret"] is None for e in listed.json()["data"])

    for method in ("post", "patch"):
        updated = await api.http.request(
            method,
            f"/v1/webhook_endpoints/{created['id']}",
            json={"enabled_events": ["*"], "status": "disabled", "metadata": {"team": ""}},
            headers=bearer(key),
        )
        assert updated.status_code == 200, updated.text
        assert updated.json()["enabled_events"] == ["*"]
        assert updated.json()["status"] == "disabled"
        assert updated.json()["metadata"] == {}
        assert updated.json()["description"] == "orders"

    deleted = await api.http.delete(f"/v1/webhook_endpoints/{created['id']}", headers=bearer(key))
    assert deleted.json() == {"id": created["id"], "object": "webhook_endpoint", "deleted": True}
    gone = await api.http.get(f"/v1/webhook_endpoints/{created['id']}", headers=bearer(key))
    assert_error(gone, 404, code="resource_missing")


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"url": URL, "enabled_events": ["payment_intent.nope"]}, "enabled_events", None),
        ({"url": URL, "enabled_events": []}, "enabled_events", None),
        ({"url": URL}, "enabled_events", "parameter_missing"),
        ({"url": "ftp://shop.example.cm", "enabled_events": ["*"]}, "url", "webhook_url_invalid"),
        ({"url": "not a url", "enabled_events": ["*"]}, "url", "webhook_url_invalid"),
        # test mode: http only to loopback
        ({"url": "http://shop.example.cm/h", "enabled_events": ["*"]}, "url", None),
        ({"url": "https://10.0.0.5/h", "enabled_events": ["*"]}, "url", "webhook_url_invalid"),
        ({"url": "https://169.254.169.254/", "enabled_events": ["*"]}, "url", None),
        ({"url": URL, "enabled_events": ["*"], "colour": "red"}, "colour", "parameter_unknown"),
    ],
)
async def test_invalid_input_is_a_400_naming_the_param_and_writes_nothing(
    api: Api, owner_connection: asyncpg.Connection, body: dict[str, object], param: str, code: str
) -> None:
    account = await api.signup()
    response = await api.http.post(
        "/v1/webhook_endpoints", json=body, headers=bearer(account.secret_key)
    )
    error = assert_error(response, 400, code=code)
    assert error["param"] is not None
    assert error["param"].startswith(param), error
    assert await owner_connection.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_an_unknown_event_type_is_named_by_its_place_in_enabled_events(
    api: Api, owner_connection: asyncpg.Connection
) -> None:
    """docs/webhooks.md §Endpoints: the 400 names `enabled_events[i]`, on create and update."""
    account = await api.signup()
    events = ["*", "refund.succeeded", "payment_intent.nope"]
    response = await api.http.post(
        "/v1/webhook_endpoints",
        json={"url": URL, "enabled_events": events},
        headers=bearer(account.secret_key),
    )
    error = assert_error(response, 400, code="parameter_invalid", param="enabled_events[2]")
    assert "payment_intent.nope" in error["message"]
    assert await owner_connection.fetchval("SELECT count(*) FROM webhook_endpoints") == 0
    created = await create_endpoint(api, account.secret_key, URL)
    response = await api.http.patch(
        f"/v1/webhook_endpoints/{created['id']}",
        json={"enabled_events": ["payout.nope", "*"]},
        headers=bearer(account.secret_key),
    )
    assert_error(response, 400, code="parameter_invalid", param="enabled_events[0]")


async def test_test_mode_takes_http_to_loopback_and_live_mode_only_https(api: Api) -> None:
    account, live_key = await api.live_account()
    for url in ("http://127.0.0.1:9/h", "http://localhost:9/h", "http://[::1]:9/h"):
        await create_endpoint(api, account.secret_key, url)
    for url in ("http://127.0.0.1:9/h", "http://shop.example.cm/h", "https://127.0.0.1/h"):
        response = await api.http.post(
            "/v1/webhook_endpoints",
            json={"url": url, "enabled_events": ["*"]},
            headers=bearer(live_key),
        )
        assert_error(response, 400, code="webhook_url_invalid", param="url")
    live = await create_endpoint(api, live_key, URL)
    assert live["livemode"] is True


async def test_at_most_16_endpoints_per_merchant_and_mode(api: Api, settings: Settings) -> None:
    account, live_key = await api.live_account()
    limit = settings.webhooks.max_endpoints
    assert limit == 16
    created = [await create_endpoint(api, account.secret_key, f"{URL}/{n}") for n in range(limit)]
    response = await api.http.post(
        "/v1/webhook_endpoints",
        json={"url": URL, "enabled_events": ["*"]},
        headers=bearer(account.secret_key),
    )
    assert_error(response, 400, code="webhook_endpoint_limit")
    await create_endpoint(api, live_key, URL)  # the other mode has its own 16
    await api.http.delete(
        f"/v1/webhook_endpoints/{created[0]['id']}", headers=bearer(account.secret_key)
    )
    await create_endpoint(api, account.secret_key, URL)  # a deleted one frees a place


async def test_the_secret_is_shown_once_and_a_replay_is_redacted(api: Api) -> None:
    account = await api.signup()
    headers = {**bearer(account.secret_key), "Idempotency-Key": "we-1"}
    body = {"url": URL, "enabled_events": ["*"]}
    first = await api.http.post("/v1/webhook_endpoints", json=body, headers=headers)
    replay = await api.http.post("/v1/webhook_endpoints", json=body, headers=headers)
    assert first.json()["secret"].startswith("whsec_")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["secret"] == "redacted"
    assert replay.json()["id"] == first.json()["id"]

    roll_headers = {**bearer(account.secret_key), "Idempotency-Key": "roll-1"}
    path = f"/v1/webhook_endpoints/{first.json()['id']}/roll_secret"
    for invalid in (True, "3600", 86_401, -1):  # schemathesis sent `true`: it was 1 s
        refused = await api.http.post(
            path, json={"expires_in": invalid}, headers=bearer(account.secret_key)
        )
        assert_error(refused, 400, param="expires_in")
    rolled = await api.http.post(path, json={"expires_in": 3600}, headers=roll_headers)
    rolled_again = await api.http.post(path, json={"expires_in": 3600}, headers=roll_headers)
    assert rolled.json()["secret"].startswith("whsec_")
    assert rolled.json()["secret"] != first.json()["secret"]
    assert rolled_again.json()["secret"] == "redacted"


async def test_the_secret_is_encrypted_at_rest(
    api: Api, owner_connection: asyncpg.Connection, settings: Settings
) -> None:
    account = await api.signup()
    created = await create_endpoint(api, account.secret_key, URL)
    secret = created["secret"]
    row = await owner_connection.fetchrow("SELECT * FROM webhook_endpoints")
    assert row is not None
    as_text = repr(dict(row))
    assert secret not in as_text
    assert secret.removeprefix("whsec_") not in as_text
    for value in row.values():
        if isinstance(value, bytes):
            assert secret.encode() not in value
    box = secret_box(settings)
    assert box.decrypt(row["secret_ciphertext"], endpoint_id=created["id"]) == secret
    # Bound to its row: the ciphertext does not open as another endpoint's.
    with pytest.raises(InvalidTag):
        box.decrypt(row["secret_ciphertext"], endpoint_id="we_other")
    # Nothing else in the database holds it either (the idempotency store, the events).
    dump = await owner_connection.fetchval(
        "SELECT string_agg(t::text, ' ') FROM (SELECT response_body::text AS t FROM"
        " idempotency_keys UNION ALL SELECT data::text FROM events) s"
    )
    assert secret not in (dump or "")


async def test_roll_overlap_is_at_most_24_hours(api: Api) -> None:
    account = await api.signup()
    created = await create_endpoint(api, account.secret_key, URL)
    response = await api.http.post(
        f"/v1/webhook_endpoints/{created['id']}/roll_secret",
        json={"expires_in": 86_401},
        headers=bearer(account.secret_key),
    )
    assert_error(response, 400, param="expires_in")


async def test_endpoints_are_isolated_between_merchants_and_modes(api: Api) -> None:
    mine, live_key = await api.live_account()
    theirs = await api.signup()
    endpoint = await create_endpoint(api, mine.secret_key, URL)
    path = f"/v1/webhook_endpoints/{endpoint['id']}"
    for key in (theirs.secret_key, live_key):
        for method, suffix in [
            ("GET", ""),
            ("POST", ""),
            ("DELETE", ""),
            ("POST", "/roll_secret"),
            ("GET", "/deliveries"),
        ]:
            response = await api.http.request(method, path + suffix, headers=bearer(key), json={})
            assert_error(response, 404, code="resource_missing")
        listed = await api.http.get("/v1/webhook_endpoints", headers=bearer(key))
        assert listed.json()["data"] == []


async def test_restricted_keys_need_the_webhook_endpoints_permission(api: Api) -> None:
    account = await api.signup()
    reader = await api.create_key(account, type="restricted", scopes=["webhook_endpoints:read"])
    other = await api.create_key(account, type="restricted", scopes=["customers:write"])
    await create_endpoint(api, account.secret_key, URL)
    listed = await api.http.get("/v1/webhook_endpoints", headers=bearer(reader["secret"]))
    assert listed.status_code == 200
    refused = await api.http.post(
        "/v1/webhook_endpoints",
        json={"url": URL, "enabled_events": ["*"]},
        headers=bearer(reader["secret"]),
    )
    assert refused.status_code == 403
    refused = await api.http.get("/v1/webhook_endpoints", headers=bearer(other["secret"]))
    assert refused.status_code == 403
