"""The Developers section over HTTP against the whole stack (docs/dashboard.md, "Developers"):
API keys (the secret shown once, roll with overlap, revoke, restricted), webhook endpoints
(create, edit, disable, roll, delete, the delivery log after a real payment, resend), the event
log, the request log (no secret, no phone), roles as the API's and tenant isolation."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import httpx

from mboa.request_log import KEEP, TTL_SECONDS, redis_key
from mboa.web.formatting import local_time
from tests.conftest import other_api
from tests.dashboard.conftest import Browser, Stack, csrf_of, form_key_of, pay
from tests.helpers import PASSWORD, Account, Api, bearer
from tests.webhooks.conftest import Receiver, _receiver_server, receiver

__all__ = ["_receiver_server", "receiver"]

KEYS = "/dashboard/developers/api_keys"
HOOKS = "/dashboard/developers/webhooks"
EVENTS = "/dashboard/developers/events"
REQUESTS = "/dashboard/developers/requests"
SECRET = re.compile(r'id="secret" readonly value="([^"]+)"')


def shown_secret(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:2000]
    found = SECRET.search(response.text)
    assert found, response.text[:3000]
    return found.group(1)


async def create_key(browser: Browser, **fields: str) -> tuple[httpx.Response, str]:
    response = await browser.post_form(KEYS, KEYS, **fields)
    return response, shown_secret(response)


async def works(client: httpx.AsyncClient, key: str) -> int:
    return (await client.get("/v1/customers", headers=bearer(key))).status_code


async def key_id_of(client: httpx.AsyncClient, account: Account, secret: str) -> str:
    keys = (
        await client.get(
            f"/v1/merchants/{account.merchant_id}/api_keys",
            params={"limit": 100},
            headers=account.user_headers,
        )
    ).json()["data"]
    return str(next(k["id"] for k in keys if k["redacted"].endswith(secret[-4:])))


async def test_a_new_key_is_shown_once_and_works_on_the_api(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    page = await browser.get(KEYS)
    assert page.status_code == 200
    assert 'id="create-key"' in page.text
    created, secret = await create_key(browser, name="backend", type="secret")
    assert secret.startswith("sk_test_")
    assert created.headers["cache-control"] == "no-store"
    assert "location" not in created.headers
    assert all(secret not in c for c in created.headers.get_list("set-cookie"))
    assert await works(client, secret) == 200

    # Never again: neither the list nor any other page of the section.
    for path in (KEYS, HOOKS, EVENTS, REQUESTS, "/dashboard"):
        again = await browser.get(path)
        assert again.status_code == 200, path
        assert secret not in again.text, path
    listed = (await browser.get(KEYS)).text
    assert f"{secret[:8]}…{secret[-4:]}" in listed
    assert "backend" in listed

    # A restricted key: only the scopes chosen.
    restricted = await browser.http.post(
        KEYS,
        data={
            "csrf": csrf_of(listed),
            "idempotency_key": form_key_of(listed),
            "type": "restricted",
            "name": "reporting",
            "scopes": "customers:read",
            "expires_in_days": "30",
        },
    )
    limited = shown_secret(restricted)
    assert limited.startswith("rk_test_")
    assert await works(client, limited) == 200
    refused = await client.post("/v1/customers", json={"name": "Awa"}, headers=bearer(limited))
    assert refused.status_code == 403
    # A restricted key without a scope is the API's error, in the page.
    none = await browser.post_form(KEYS, KEYS, type="restricted", name="nothing")
    assert none.status_code == 303
    assert none.headers["location"] == KEYS
    assert "Quelque chose" in (await browser.get(KEYS)).text


async def test_roll_keeps_the_old_key_for_the_overlap_and_revoke_stops_it(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    _, first = await create_key(browser, name="first")
    key_id = await key_id_of(client, owner, first)

    confirm = await browser.get(f"{KEYS}/{key_id}/roll")
    assert "Confirmer" in confirm.text
    assert f"…{first[-4:]}" in confirm.text
    rolled = await browser.http.post(
        f"{KEYS}/{key_id}/roll",
        data={
            "csrf": csrf_of(confirm.text),
            "idempotency_key": form_key_of(confirm.text),
            "expires_in": "3600",
        },
    )
    second = shown_secret(rolled)
    assert rolled.headers["cache-control"] == "no-store"
    assert second != first
    assert await works(client, first) == 200  # the overlap
    assert await works(client, second) == 200
    assert "Expire bientôt" in (await browser.get(KEYS)).text

    # An overlap outside the choices is refused, nothing rolled.
    odd = await browser.post_form(f"{KEYS}/{key_id}/roll", f"{KEYS}/{key_id}/roll", expires_in="5")
    assert odd.status_code == 303
    # Rolling now: the old key stops at once.
    second_id = await key_id_of(client, owner, second)
    now = await browser.post_form(
        f"{KEYS}/{second_id}/roll", f"{KEYS}/{second_id}/roll", expires_in="0"
    )
    third = shown_secret(now)
    assert await works(client, second) == 401
    assert await works(client, third) == 200

    third_id = await key_id_of(client, owner, third)
    revoke = await browser.get(f"{KEYS}/{third_id}/revoke")
    assert f"…{third[-4:]}" in revoke.text
    done = await browser.http.post(f"{KEYS}/{third_id}/revoke", data={"csrf": csrf_of(revoke.text)})
    assert done.status_code == 303
    assert done.headers["location"] == KEYS
    assert "La clé est révoquée" in (await browser.get(KEYS)).text
    assert await works(client, third) == 401


async def test_live_keys_follow_the_apis_rule(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    pending = await shop.signup()
    browser = await browser_for(pending)
    browser.http.cookies.set("mboa_mode", "live")
    page = await browser.get(KEYS)
    assert page.status_code == 200
    refused = await browser.http.post(
        KEYS,
        data={
            "csrf": csrf_of(page.text),
            "idempotency_key": form_key_of(page.text),
            "type": "secret",
            "name": "live",
        },
    )
    assert refused.status_code == 303
    shown = await browser.get(refused.headers["location"])
    assert "sk_live_" not in shown.text
    assert "pas validé" in shown.text  # the API's rule: not approved, no live key

    approved, _ = await shop.live_account()
    live = await browser_for(approved)
    live.http.cookies.set("mboa_mode", "live")
    _, secret = await create_key(live, name="live", type="secret")
    assert secret.startswith("sk_live_")
    assert await works(client, secret) == 200
    assert f"…{secret[-4:]}" in (await live.get(KEYS)).text
    test_mode = await browser_for(approved)
    assert f"…{secret[-4:]}" not in (await test_mode.get(KEYS)).text  # keys of one mode


async def test_webhook_endpoint_create_edit_disable_roll_delete(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, receiver: Receiver
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    new_form = await browser.get(f"{HOOKS}/new")
    created = await browser.http.post(
        HOOKS,
        data={
            "csrf": csrf_of(new_form.text),
            "idempotency_key": form_key_of(new_form.text),
            "url": f"{receiver.url}/orders",
            "events": ["payment_intent.succeeded", "refund.succeeded"],
            "description": "Orders",
        },
    )
    secret = shown_secret(created)
    assert secret.startswith("whsec_")
    assert created.headers["cache-control"] == "no-store"
    api = (await client.get("/v1/webhook_endpoints", headers=owner.key_headers)).json()["data"]
    assert len(api) == 1
    endpoint = api[0]
    assert endpoint["enabled_events"] == ["payment_intent.succeeded", "refund.succeeded"]
    assert endpoint["description"] == "Orders"
    page = await browser.get(f"{HOOKS}/{endpoint['id']}")
    assert page.status_code == 200
    assert secret not in page.text
    assert secret not in (await browser.get(HOOKS)).text

    # Edit: url, events, description, disabled.
    edited = await browser.http.post(
        f"{HOOKS}/{endpoint['id']}",
        data={
            "csrf": csrf_of(page.text),
            "url": f"{receiver.url}/v2",
            "events": "*",
            "description": "",
            "status": "disabled",
        },
    )
    assert edited.status_code == 303
    after = (
        await client.get(f"/v1/webhook_endpoints/{endpoint['id']}", headers=owner.key_headers)
    ).json()
    assert after["url"] == f"{receiver.url}/v2"
    assert after["enabled_events"] == ["*"]
    assert after["description"] is None
    assert after["status"] == "disabled"
    assert "L\u2019endpoint est enregistré" in (await browser.get(f"{HOOKS}/{endpoint['id']}")).text
    enabled = await browser.http.post(
        f"{HOOKS}/{endpoint['id']}",
        data={
            "csrf": csrf_of(page.text),
            "url": f"{receiver.url}/v2",
            "events": "*",
            "status": "enabled",
        },
    )
    assert enabled.status_code == 303
    # A URL the API refuses is refused here too, with the API's reason, nothing changed.
    bad = await browser.http.post(
        f"{HOOKS}/{endpoint['id']}",
        data={"csrf": csrf_of(page.text), "url": "http://example.com/x", "events": "*"},
    )
    assert bad.status_code == 303
    assert "https" in (await browser.get(bad.headers["location"])).text
    after = (
        await client.get(f"/v1/webhook_endpoints/{endpoint['id']}", headers=owner.key_headers)
    ).json()
    assert after["status"] == "enabled"
    assert after["url"] == f"{receiver.url}/v2"

    rolled = await browser.http.post(
        f"{HOOKS}/{endpoint['id']}/roll",
        data={
            "csrf": csrf_of(page.text),
            "idempotency_key": form_key_of(page.text),
            "expires_in": "3600",
        },
    )
    new_secret = shown_secret(rolled)
    assert new_secret.startswith("whsec_")
    assert new_secret != secret
    assert new_secret not in (await browser.get(f"{HOOKS}/{endpoint['id']}")).text

    confirm = await browser.get(f"{HOOKS}/{endpoint['id']}/delete")
    assert f"{receiver.url}/v2" in confirm.text
    deleted = await browser.http.post(
        f"{HOOKS}/{endpoint['id']}/delete", data={"csrf": csrf_of(confirm.text)}
    )
    assert deleted.status_code == 303
    assert deleted.headers["location"] == HOOKS
    gone = await client.get(f"/v1/webhook_endpoints/{endpoint['id']}", headers=owner.key_headers)
    assert gone.status_code == 404


async def test_a_payment_event_is_delivered_logged_resent_and_in_the_event_log(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, receiver: Receiver
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    created = await browser.post_form(
        f"{HOOKS}/new", HOOKS, url=f"{receiver.url}/shop", events="payment_intent.created"
    )
    shown_secret(created)
    endpoint_id = (await client.get("/v1/webhook_endpoints", headers=owner.key_headers)).json()[
        "data"
    ][0]["id"]
    intent = await pay(client, owner.secret_key, reference="order-42")
    await receiver.wait_for(lambda: len(receiver.on("/shop")) >= 1, what="the delivery")
    page = ""
    for _ in range(100):
        page = (await browser.get(f"{HOOKS}/{endpoint_id}")).text
        if "status-succeeded" in page:
            break
        await asyncio.sleep(0.1)
    assert "payment_intent.created" in page
    assert '<span class="http">200</span>' in page
    event_id = re.search(r'data-event="(evt_[^"]+)"', page)
    assert event_id, page
    evt = event_id.group(1)

    resent = await browser.http.post(
        f"{HOOKS}/{endpoint_id}/resend", data={"csrf": csrf_of(page), "event": evt}
    )
    assert resent.status_code == 303
    assert "envoyé à nouveau" in (await browser.get(resent.headers["location"])).text
    await receiver.wait_for(lambda: len(receiver.on("/shop")) >= 2, what="the resend")

    # The event log: filters as the API's, then the event with its JSON and deliveries.
    everything = await browser.get(EVENTS)
    assert evt in everything.text
    assert "payment_intent.created" in everything.text
    wildcard = await browser.get(EVENTS, params={"type": "payment_intent.*"})
    assert evt in wildcard.text
    exact = await browser.get(EVENTS, params={"type": "payment_intent.created"})
    assert evt in exact.text
    other = await browser.get(EVENTS, params={"type": "refund.*"})
    assert other.status_code == 200
    assert evt not in other.text
    assert 'id="empty"' in other.text
    # Keyset pages: after the newest event, only older ones.
    ids = re.findall(r'<tr id="event-(evt_[^"]+)">', everything.text)
    assert len(ids) >= 2
    assert ids == sorted(ids, reverse=True)
    older = await browser.get(EVENTS, params={"after": ids[0]})
    assert f'id="event-{ids[0]}"' not in older.text
    assert f'id="event-{ids[1]}"' in older.text
    wrong = await browser.get(EVENTS, params={"type": "false"})
    assert wrong.status_code == 400
    assert 'id="type-problem"' in wrong.text
    detail = await browser.get(f"{EVENTS}/{evt}")
    assert detail.status_code == 200
    assert f"&#34;id&#34;: &#34;{intent['id']}&#34;" in detail.text  # pretty-printed JSON
    assert 'id="delivery-' in detail.text
    assert endpoint_id in detail.text
    again = await browser.http.post(
        f"{EVENTS}/{evt}/resend", data={"csrf": csrf_of(detail.text), "endpoint": endpoint_id}
    )
    assert again.status_code == 303
    await receiver.wait_for(lambda: len(receiver.on("/shop")) >= 3, what="the second resend")


async def test_the_request_log_lists_api_calls_without_secrets(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup()
    made = await client.post(
        "/v1/payment_intents",
        json={"amount": 5000, "currency": "XAF", "phone": "670000000"},
        headers=owner.key_headers,
    )
    assert made.status_code == 200
    request_id = made.headers["x-request-id"]
    listed = await client.get("/v1/customers", headers=owner.key_headers)
    browser = await browser_for(owner)
    page = ""
    for _ in range(50):
        page = (await browser.get(REQUESTS)).text
        if request_id in page:
            break
        await asyncio.sleep(0.1)
    row = re.search(rf'<tr id="request-{request_id}">(.*?)</tr>', page, re.S)
    assert row, page
    assert "POST" in row.group(1)
    assert "/v1/payment_intents" in row.group(1)
    assert ">200<" in row.group(1)
    assert f"…{owner.secret_key[-4:]}" in row.group(1)
    assert listed.headers["x-request-id"] in page
    for secret in (owner.secret_key, "670000000", PASSWORD, owner.access_token):
        assert secret not in page
    # What Redis holds: no body, no phone, no key.
    stored = await shop.state.redis.lrange(f"mboa:request_log:{owner.merchant_id}:test", 0, -1)
    assert stored
    raw = b"".join(stored)
    assert b"670000000" not in raw
    assert owner.secret_key.encode() not in raw
    # Another merchant's log is not this one.
    other = await shop.signup()
    elsewhere = await browser_for(other)
    assert request_id not in (await elsewhere.get(REQUESTS)).text


async def test_an_analyst_sees_no_action_and_every_post_is_403(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, receiver: Receiver
) -> None:
    owner = await shop.signup()
    analyst = await shop.add_member(owner, "analyst")
    ob = await browser_for(owner)
    await ob.post_form(f"{HOOKS}/new", HOOKS, url=f"{receiver.url}/a", events="*")
    endpoint_id = (await client.get("/v1/webhook_endpoints", headers=owner.key_headers)).json()[
        "data"
    ][0]["id"]
    key_id = await key_id_of(client, owner, owner.secret_key)
    intent = await pay(client, owner.secret_key)
    events = (
        await client.get(
            "/v1/events", params={"object_id": intent["id"]}, headers=owner.key_headers
        )
    ).json()["data"]
    evt = events[0]["id"]

    browser = await browser_for(analyst)
    assert (await browser.get(KEYS)).status_code == 403  # analysts do not read keys (API too)
    assert (await browser.get(REQUESTS)).status_code == 403
    hooks = await browser.get(HOOKS)
    assert hooks.status_code == 200
    assert 'id="add-endpoint"' not in hooks.text
    endpoint_page = await browser.get(f"{HOOKS}/{endpoint_id}")
    assert endpoint_page.status_code == 200
    assert 'id="edit"' not in endpoint_page.text
    assert "resend" not in endpoint_page.text
    assert (await browser.get(f"{HOOKS}/new")).status_code == 403
    assert (await browser.get(EVENTS)).status_code == 200
    token = csrf_of(hooks.text)
    for action, fields in (
        (KEYS, {"type": "secret"}),
        (f"{KEYS}/{key_id}/roll", {"expires_in": "0"}),
        (f"{KEYS}/{key_id}/revoke", {}),
        (HOOKS, {"url": f"{receiver.url}/b", "events": "*"}),
        (f"{HOOKS}/{endpoint_id}", {"url": f"{receiver.url}/c", "events": "*"}),
        (f"{HOOKS}/{endpoint_id}/roll", {"expires_in": "0"}),
        (f"{HOOKS}/{endpoint_id}/delete", {}),
        (f"{HOOKS}/{endpoint_id}/resend", {"event": evt}),
        (f"{EVENTS}/{evt}/resend", {"endpoint": endpoint_id}),
    ):
        refused = await browser.http.post(action, data={"csrf": token, **fields})
        assert refused.status_code == 403, action
    assert await works(client, owner.secret_key) == 200
    endpoint = (
        await client.get(f"/v1/webhook_endpoints/{endpoint_id}", headers=owner.key_headers)
    ).json()
    assert endpoint["url"] == f"{receiver.url}/a"
    assert endpoint["status"] == "enabled"


async def test_another_merchants_keys_endpoints_and_events_are_404(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, receiver: Receiver
) -> None:
    victim = await shop.signup()
    vb = await browser_for(victim)
    await vb.post_form(f"{HOOKS}/new", HOOKS, url=f"{receiver.url}/v", events="*")
    endpoint_id = (await client.get("/v1/webhook_endpoints", headers=victim.key_headers)).json()[
        "data"
    ][0]["id"]
    key_id = await key_id_of(client, victim, victim.secret_key)
    intent = await pay(client, victim.secret_key)
    evt = (
        await client.get(
            "/v1/events", params={"object_id": intent["id"]}, headers=victim.key_headers
        )
    ).json()["data"][0]["id"]

    intruder = await shop.signup()
    browser = await browser_for(intruder)
    for path in (
        f"{KEYS}/{key_id}/roll",
        f"{KEYS}/{key_id}/revoke",
        f"{HOOKS}/{endpoint_id}",
        f"{HOOKS}/{endpoint_id}/delete",
        f"{EVENTS}/{evt}",
    ):
        assert (await browser.get(path)).status_code == 404, path
    token = csrf_of((await browser.get(KEYS)).text)
    for action, fields in (
        (f"{KEYS}/{key_id}/roll", {"expires_in": "0"}),
        (f"{KEYS}/{key_id}/revoke", {}),
        (f"{HOOKS}/{endpoint_id}", {"url": f"{receiver.url}/x", "events": "*"}),
        (f"{HOOKS}/{endpoint_id}/roll", {"expires_in": "0"}),
        (f"{HOOKS}/{endpoint_id}/delete", {}),
        (f"{EVENTS}/{evt}/resend", {"endpoint": endpoint_id}),
    ):
        refused = await browser.http.post(action, data={"csrf": token, **fields})
        assert refused.status_code == 303, action
        shown = await browser.get(refused.headers["location"])
        assert shown.status_code == 404, action
    listed = await browser.get(KEYS)
    assert key_id not in listed.text
    assert endpoint_id not in (await browser.get(HOOKS)).text
    assert evt not in (await browser.get(EVENTS)).text
    # Nothing of the victim's changed.
    assert await works(client, victim.secret_key) == 200
    endpoint = (
        await client.get(f"/v1/webhook_endpoints/{endpoint_id}", headers=victim.key_headers)
    ).json()
    assert endpoint["url"] == f"{receiver.url}/v"
    assert endpoint["status"] == "enabled"


async def test_the_request_log_keeps_the_last_thousand_calls_per_merchant_and_mode(
    shop: Api,
) -> None:
    log = shop.state.request_log
    await shop.state.redis.delete(redis_key("acct_capped", False), redis_key("acct_capped", True))
    for index in range(KEEP + 5):
        log.record(
            merchant_id="acct_capped",
            livemode=False,
            method="GET",
            path=f"/v1/customers/+237670000{index % 1000:03d}",
            status=200,
            request_id=f"req_{index}",
            latency_ms=1.0,
            key_id=None,
        )
    log.record(
        merchant_id="acct_capped",
        livemode=True,
        method="POST",
        path="/v1/payouts",
        status=402,
        request_id="req_live",
        latency_ms=2.0,
        key_id=None,
    )
    await log.flush()
    test_calls = await log.recent("acct_capped", False, limit=KEEP * 2)
    assert len(test_calls) == KEEP
    assert test_calls[0]["request_id"] == f"req_{KEEP + 4}"  # newest first
    assert test_calls[-1]["request_id"] == "req_5"
    assert all("670000" not in call["path"] for call in test_calls)  # masked as the logs are
    assert [c["request_id"] for c in await log.recent("acct_capped", True)] == ["req_live"]
    ttl = await shop.state.redis.ttl(redis_key("acct_capped", False))
    assert 0 < ttl <= TTL_SECONDS


async def test_a_developer_manages_keys_and_endpoints(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, receiver: Receiver
) -> None:
    owner = await shop.signup()
    developer = await shop.add_member(owner, "developer")
    browser = await browser_for(developer)
    keys = await browser.get(KEYS)
    assert 'id="create-key"' in keys.text
    _, secret = await create_key(browser, name="ci")
    assert await works(client, secret) == 200
    created = await browser.post_form(
        f"{HOOKS}/new", HOOKS, url=f"{receiver.url}/dev", events="payment_intent.succeeded"
    )
    assert shown_secret(created).startswith("whsec_")
    listed = (await client.get("/v1/webhook_endpoints", headers=owner.key_headers)).json()
    assert [e["url"] for e in listed["data"]] == [f"{receiver.url}/dev"]
    assert 'id="add-endpoint"' in (await browser.get(HOOKS)).text


def key_row(page: str, key_id: str) -> str:
    found = re.search(rf'<tr id="key-{key_id}">(.*?)</tr>', page, re.S)
    assert found, page[:3000]
    return found.group(1)


async def test_the_keys_page_shows_each_keys_last_use_to_the_minute(
    client: httpx.AsyncClient,
    shop: Api,
    browser_for: Any,
    stack: Stack,
    database_url: str,
    redis_url: str,
) -> None:
    """The last use is written in batches (mboa/auth/last_used.py): an API process flushing
    every 0.2 s serves the call; the page shows its minute in Cameroon time, and "never used"
    for a key that made no call."""
    owner = await shop.signup()
    browser = await browser_for(owner)
    _, used = await create_key(browser, name="used")
    _, unused = await create_key(browser, name="unused")
    used_id = await key_id_of(client, owner, used)
    unused_id = await key_id_of(client, owner, unused)
    fast = stack.settings.model_copy(
        update={"auth": stack.settings.auth.model_copy(update={"last_used_flush_seconds": 0.2})}
    )
    async with other_api(fast, database_url, redis_url) as (_, other):
        assert await works(other, used) == 200
        last_used: int | None = None
        for _ in range(100):
            keys = (
                await client.get(
                    f"/v1/merchants/{owner.merchant_id}/api_keys", headers=owner.user_headers
                )
            ).json()["data"]
            last_used = next(k["last_used"] for k in keys if k["id"] == used_id)
            if last_used is not None:
                break
            await asyncio.sleep(0.05)
    assert last_used is not None
    page = (await browser.get(KEYS)).text
    when = local_time(dt.datetime.fromtimestamp(last_used, tz=dt.UTC), "fr", "short")
    assert when in key_row(page, used_id)
    assert "Jamais utilisée" not in key_row(page, used_id)
    assert "Jamais utilisée" in key_row(page, unused_id)
    assert 'id="last-used-note"' in page
