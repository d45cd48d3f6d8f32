"""Checkout sessions through the real API, and a payment made on the page with plain form
posts (what a browser without JavaScript sends), settled by the real worker and simulators."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
import httpx

from mboa.checkout.tasks import janitor
from mboa.worker import TaskContext
from tests.checkout.conftest import Stack, create_session
from tests.helpers import Api, assert_error, bearer


async def events_of(owner: asyncpg.Connection, object_id: str) -> list[str]:
    rows = await owner.fetch("SELECT type FROM events WHERE object_id = $1 ORDER BY id", object_id)
    return [row["type"] for row in rows]


async def test_create_retrieve_list(client: httpx.AsyncClient, shop: Api, stack: Stack) -> None:
    account = await shop.signup(business="Mama Ngono")
    created = await create_session(
        client, account.secret_key, reference="o-1", description="2 pagnes", locale="en"
    )
    assert created["object"] == "checkout.session"
    assert created["status"] == "open"
    assert created["payment_status"] == "unpaid"
    assert created["id"].startswith("cs_")
    # The URL: the id, then 32 characters of secret (192 bits), nothing else.
    match = re.fullmatch(
        rf"{stack.url}/pay/({created['id']})_([A-Za-z0-9_-]{{32}})", created["url"]
    )
    assert match, created["url"]
    intent = await client.get(
        f"/v1/payment_intents/{created['payment_intent']}", headers=account.key_headers
    )
    assert intent.json()["status"] == "requires_payment_method"
    assert intent.json()["amount"] == 12500
    assert intent.json()["reference"] == "o-1"
    assert intent.json()["expires_at"] == created["expires_at"]

    again = await client.get(f"/v1/checkout/sessions/{created['id']}", headers=account.key_headers)
    assert again.json() == created
    listed = await client.get(
        "/v1/checkout/sessions", params={"status": "open"}, headers=account.key_headers
    )
    assert [s["id"] for s in listed.json()["data"]] == [created["id"]]

    # Another merchant sees nothing of it, through the API or the page's id without its secret.
    other = await shop.signup()
    missing = await client.get(f"/v1/checkout/sessions/{created['id']}", headers=other.key_headers)
    assert_error(missing, 404, code="resource_missing")
    page = await client.get(created["url"])
    assert page.status_code == 200
    assert "Mama Ngono" in page.text
    forged = await client.get(created["url"][:-4] + "AAAA")
    assert forged.status_code == 404
    assert "Mama Ngono" not in forged.text


async def test_urls_are_checked_and_nothing_is_written(
    client: httpx.AsyncClient, shop: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup()
    for body, param in (
        ({"success_url": "javascript:alert(1)"}, "success_url"),
        ({"success_url": "ftp://shop.cm/x"}, "success_url"),
        ({"success_url": "https://shop.cm", "cancel_url": "/relative"}, "cancel_url"),
    ):
        response = await client.post(
            "/v1/checkout/sessions",
            json={"amount": 1000, "currency": "XAF", **body},
            headers=account.key_headers,
        )
        assert_error(response, 400, code="url_invalid", param=param)
    _, live_key = await shop.live_account()
    response = await client.post(
        "/v1/checkout/sessions",
        json={"amount": 1000, "currency": "XAF", "success_url": "http://shop.cm/ok"},
        headers=bearer(live_key),
    )
    assert_error(response, 400, code="url_invalid", param="success_url")
    response = await client.post(
        "/v1/checkout/sessions",
        json={"amount": 10, "currency": "XAF", "success_url": "https://shop.cm/ok"},
        headers=account.key_headers,
    )
    assert_error(response, 400, code="amount_too_small", param="amount")
    assert await owner_connection.fetchval("SELECT count(*) FROM checkout_sessions") == 0
    assert await owner_connection.fetchval("SELECT count(*) FROM payment_intents") == 0


async def test_expire(
    client: httpx.AsyncClient, shop: Api, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup()
    created = await create_session(client, account.secret_key)
    expired = await client.post(
        f"/v1/checkout/sessions/{created['id']}/expire", headers=account.key_headers
    )
    assert expired.status_code == 200, expired.text
    assert expired.json()["status"] == "expired"
    assert expired.json()["url"] is None
    intent = await client.get(
        f"/v1/payment_intents/{created['payment_intent']}", headers=account.key_headers
    )
    assert intent.json()["status"] == "canceled"
    assert await events_of(owner_connection, created["id"]) == ["checkout.session.expired"]
    again = await client.post(
        f"/v1/checkout/sessions/{created['id']}/expire", headers=account.key_headers
    )
    assert_error(again, 409, code="checkout_session_unexpected_state")
    page = await client.get(created["url"])
    assert page.status_code == 200
    assert "expiré" in page.text


async def _form(http: httpx.AsyncClient, url: str) -> tuple[str, str]:
    page = await http.get(url)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    return token.group(1), page.text


async def test_pay_with_plain_form_posts(
    client: httpx.AsyncClient, shop: Api, stack: Stack, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup(business="Boutique Ndolo")
    created = await create_session(client, account.secret_key)
    async with httpx.AsyncClient(
        base_url=stack.url, timeout=30, headers={"accept-language": "fr"}
    ) as browser:
        csrf, html = await _form(browser, created["url"])
        assert "12\u202f500\u00a0FCFA" in html
        # Without the page's token: refused, back to the page with the reason, nothing sent.
        refused = await browser.post(created["url"], data={"phone": "670000000"})
        assert refused.status_code == 303
        back = await browser.get(refused.headers["location"])
        assert "trop longtemps" in back.text
        assert await owner_connection.fetchval("SELECT count(*) FROM payment_attempts") == 0

        sent = await browser.post(created["url"], data={"csrf": csrf, "phone": "6 70 00 00 00"})
        assert sent.status_code == 303, sent.text
        waiting = await browser.get(sent.headers["location"])
        assert "*126#" in waiting.text
        assert 'http-equiv="refresh"' in waiting.text
        status: dict[str, Any] = {}
        for _ in range(200):
            status = (await browser.get(created["url"] + "/status")).json()
            if status["state"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        assert status["state"] == "succeeded", status
    for _ in range(100):
        session = (
            await client.get(f"/v1/checkout/sessions/{created['id']}", headers=account.key_headers)
        ).json()
        if session["status"] == "complete":
            break
        await asyncio.sleep(0.05)
    assert session["status"] == "complete"
    assert session["payment_status"] == "paid"
    assert await events_of(owner_connection, created["id"]) == ["checkout.session.completed"]


async def test_janitor_expires_past_sessions(
    client: httpx.AsyncClient, shop: Api, stack: Stack, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup()
    created = await create_session(client, account.secret_key, expires_in=60)
    kept = await create_session(client, account.secret_key)
    await owner_connection.execute(
        "UPDATE checkout_sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
        created["id"],
    )
    context = TaskContext(stack.settings, stack.state.db, providers=stack.state.providers)
    assert await janitor(context, {}) == 1
    assert await janitor(context, {}) == 0
    first = await client.get(f"/v1/checkout/sessions/{created['id']}", headers=account.key_headers)
    second = await client.get(f"/v1/checkout/sessions/{kept['id']}", headers=account.key_headers)
    assert first.json()["status"] == "expired"
    assert second.json()["status"] == "open"
    assert await events_of(owner_connection, created["id"]) == ["checkout.session.expired"]
