"""Double submits of the dashboard's money forms (docs/dashboard.md "Double submits"): the
confirmation page renders a key, its post claims it as the API claims an Idempotency-Key, so a
second post of the same page (double click, re-post on reload, retry) moves no money twice and
leads to the first post's page; a post without a valid key is refused, nothing written; a refused
first post releases the key."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from sqlalchemy import text

from mboa.dashboard.submits import new_form_key
from tests.checkout.conftest import Stack
from tests.dashboard.conftest import Browser, csrf_of, form_key_of, pay
from tests.dashboard.test_developers import shown_secret
from tests.dashboard.test_money import PAYOUT_PATH, payouts_of
from tests.dashboard.test_pages import succeeded
from tests.helpers import Api, bearer
from tests.payouts.helpers import MTN_OK, fund

HIDDEN = re.compile(r'type="hidden" name="(\w+)" value="([^"]*)"')
REPLAYED = "Ce formulaire avait déjà été envoyé"
OUT_OF_DATE = "Ce formulaire n\u2019est plus à jour"


async def confirmation(browser: Browser, **fields: str) -> dict[str, str]:
    """The payout form, then its confirmation page: the hidden fields its button posts."""
    form = await browser.get("/dashboard/payouts/new")
    confirm = await browser.http.post(
        "/dashboard/payouts/confirm", data={"csrf": csrf_of(form.text), **fields}
    )
    assert confirm.status_code == 200, confirm.text
    assert 'form data-once method="post" action="/dashboard/payouts"' in confirm.text
    hidden = dict(HIDDEN.findall(confirm.text))
    assert hidden["idempotency_key"] == form_key_of(confirm.text)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", hidden["idempotency_key"])
    return hidden


def form_of(page: httpx.Response, **fields: str) -> dict[str, str]:
    """What the page's form posts: its CSRF token, its double-submit key and `fields`."""
    return {"csrf": csrf_of(page.text), "idempotency_key": form_key_of(page.text), **fields}


async def refunds_of(http: httpx.AsyncClient, key: str, intent_id: str) -> list[int]:
    response = await http.get(
        "/v1/refunds", params={"payment_intent": intent_id}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    return [refund["amount"] for refund in response.json()["data"]]


async def test_a_payout_confirmation_posted_twice_sends_one_payout(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    account = await shop.signup()
    await fund(stack.state.db, account.merchant_id, 100_000)
    browser = await browser_for(account)
    hidden = await confirmation(browser, phone=MTN_OK, amount="5000")

    first = await browser.http.post("/dashboard/payouts", data=hidden)
    assert first.status_code == 303, first.text
    assert PAYOUT_PATH.match(first.headers["location"]), first.headers["location"]
    assert "idempotent-replayed" not in first.headers
    again = await browser.http.post("/dashboard/payouts", data=hidden)
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    payouts = await payouts_of(client, account.secret_key)
    assert [p["amount"] for p in payouts] == [5000]
    assert first.headers["location"].endswith(payouts[0]["id"])
    shown = await browser.get(again.headers["location"])
    assert REPLAYED in shown.text
    assert "Retrait demandé" in shown.text
    # The page without the replay: no such notice.
    assert REPLAYED not in (await browser.get(first.headers["location"])).text

    # Another confirmation page is another key: a second payout, as the member asked.
    other = await confirmation(browser, phone=MTN_OK, amount="5000")
    assert other["idempotency_key"] != hidden["idempotency_key"]
    second = await browser.http.post("/dashboard/payouts", data=other)
    assert second.status_code == 303
    assert second.headers["location"] != first.headers["location"]
    assert [p["amount"] for p in await payouts_of(client, account.secret_key)] == [5000, 5000]

    # The same key with other values (an edited re-post): refused, nothing written.
    edited = await browser.http.post("/dashboard/payouts", data={**hidden, "amount": "7000"})
    assert edited.status_code == 303
    assert edited.headers["location"] == "/dashboard/payouts/new"
    assert 'role="alert"' in (await browser.get(edited.headers["location"])).text
    assert len(await payouts_of(client, account.secret_key)) == 2

    # Another member of the team cannot replay (nor see) this member's post through its key.
    admin = await shop.add_member(account, "admin")
    colleague = await browser_for(admin)
    page = await colleague.get("/dashboard/payouts/new")
    stolen = await colleague.http.post(
        "/dashboard/payouts", data={**hidden, "csrf": csrf_of(page.text)}
    )
    assert stolen.status_code == 303
    assert stolen.headers["location"] == "/dashboard/payouts/new"
    assert len(await payouts_of(client, account.secret_key)) == 2


async def test_concurrent_posts_of_one_confirmation_send_one_payout(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    account = await shop.signup()
    await fund(stack.state.db, account.merchant_id, 100_000)
    browser = await browser_for(account)
    hidden = await confirmation(browser, phone=MTN_OK, amount="3000")
    answers = await asyncio.gather(
        *(browser.http.post("/dashboard/payouts", data=hidden) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [303, 303, 303]
    assert len({a.headers["location"] for a in answers}) == 1, [a.headers for a in answers]
    assert PAYOUT_PATH.match(answers[0].headers["location"])
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 2
    assert [p["amount"] for p in await payouts_of(client, account.secret_key)] == [3000]


async def test_a_post_without_a_valid_key_is_refused_and_a_refused_post_frees_its_key(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    account = await shop.signup()
    await fund(stack.state.db, account.merchant_id, 100_000)
    browser = await browser_for(account)
    hidden = await confirmation(browser, phone=MTN_OK, amount="4000")
    for key in (None, "", "short", "x" * 22 + "!", "é" * 22, new_form_key() + "A"):
        fields = {name: value for name, value in hidden.items() if name != "idempotency_key"}
        if key is not None:
            fields["idempotency_key"] = key
        refused = await browser.http.post("/dashboard/payouts", data=fields)
        assert refused.status_code == 303, key
        assert refused.headers["location"] == "/dashboard/payouts/new", key
        shown = await browser.get(refused.headers["location"])
        assert OUT_OF_DATE in shown.text, key
        assert 'value="4000"' in shown.text, key  # what was confirmed is kept
    assert await payouts_of(client, account.secret_key) == []

    # A first post refused for its values (a BadRequest) frees the key: fixed, it goes through.
    too_small = await browser.http.post("/dashboard/payouts", data={**hidden, "amount": "0"})
    assert too_small.headers["location"] == "/dashboard/payouts/new"
    assert await payouts_of(client, account.secret_key) == []
    done = await browser.http.post("/dashboard/payouts", data=hidden)
    assert PAYOUT_PATH.match(done.headers["location"]), done.headers["location"]
    assert [p["amount"] for p in await payouts_of(client, account.secret_key)] == [4000]


async def test_a_partial_refund_posted_twice_refunds_once(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    account = await shop.signup()
    intent = await pay(client, account.secret_key)
    await succeeded(client, account.secret_key, intent["id"])
    browser = await browser_for(account)
    path = f"/dashboard/payments/{intent['id']}/refund"
    confirm = await browser.get(path)
    assert 'form data-once method="post"' in confirm.text
    fields = {
        "csrf": csrf_of(confirm.text),
        "idempotency_key": form_key_of(confirm.text),
        "amount": "2000",
    }

    # Too much first (refused: the key is freed), then the fixed amount, twice.
    too_much = await browser.http.post(path, data={**fields, "amount": "20000"})
    assert too_much.headers["location"] == path
    assert await refunds_of(client, account.secret_key, intent["id"]) == []
    first = await browser.http.post(path, data=fields)
    again = await browser.http.post(path, data=fields)
    assert first.status_code == again.status_code == 303
    assert (
        first.headers["location"]
        == again.headers["location"]
        == (f"/dashboard/payments/{intent['id']}")
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert await refunds_of(client, account.secret_key, intent["id"]) == [2000]
    shown = await browser.get(again.headers["location"])
    assert REPLAYED in shown.text

    # Without a key: refused, nothing written. A new page's key: a second refund.
    bare = {name: value for name, value in fields.items() if name != "idempotency_key"}
    refused = await browser.http.post(path, data=bare)
    assert refused.headers["location"] == path
    assert OUT_OF_DATE in (await browser.get(path)).text
    assert await refunds_of(client, account.secret_key, intent["id"]) == [2000]
    fresh = await browser.get(path)
    assert form_key_of(fresh.text) != fields["idempotency_key"]
    second = await browser.http.post(
        path, data={**fields, "idempotency_key": form_key_of(fresh.text)}
    )
    assert second.headers["location"] == f"/dashboard/payments/{intent['id']}"
    assert sorted(await refunds_of(client, account.secret_key, intent["id"])) == [2000, 2000]


async def test_a_key_creation_posted_twice_creates_one_key_and_shows_its_secret_once(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    keys_url = f"/v1/merchants/{owner.merchant_id}/api_keys"

    async def keys() -> list[dict[str, Any]]:
        response = await client.get(keys_url, params={"limit": 100}, headers=owner.user_headers)
        return list(response.json()["data"])

    before = len(await keys())
    page = await browser.get("/dashboard/developers/api_keys")
    assert 'form data-once method="post" action="/dashboard/developers/api_keys"' in page.text
    fields = form_of(page, type="secret", name="twice")
    first = await browser.http.post("/dashboard/developers/api_keys", data=fields)
    assert first.status_code == 200
    secret = shown_secret(first)
    again = await browser.http.post("/dashboard/developers/api_keys", data=fields)
    assert again.status_code == 303
    assert again.headers["location"] == "/dashboard/developers/api_keys"
    assert secret not in again.text
    shown = await browser.get(again.headers["location"])
    assert REPLAYED in shown.text
    assert 'id="key-created"' in shown.text
    assert secret not in shown.text
    assert f"…{secret[-4:]}" in shown.text  # the key, redacted
    created = [k for k in await keys() if k["name"] == "twice"]
    assert len(created) == 1
    assert len(await keys()) == before + 1
    assert created[0]["id"] in shown.text
    # The key's stored answer holds no secret either: where to lead a replay, and a notice.
    async with stack.state.db.platform_transaction() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT response_status, response_body, response_headers"
                    " FROM idempotency_keys WHERE merchant_id = :merchant"
                ),
                {"merchant": owner.merchant_id},
            )
        ).all()
    assert len(rows) == 1
    status, body, headers = rows[0]
    assert (status, bytes(body)) == (200, b"")
    assert secret not in str(headers)


async def test_an_endpoint_form_posted_twice_adds_one_endpoint_and_shows_its_secret_once(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    page = await browser.get("/dashboard/developers/webhooks/new")
    assert 'form data-once method="post" action="/dashboard/developers/webhooks"' in page.text
    fields = form_of(page, url="https://example.cm/hooks", events="payment_intent.succeeded")
    first = await browser.http.post("/dashboard/developers/webhooks", data=fields)
    secret = shown_secret(first)
    again = await browser.http.post("/dashboard/developers/webhooks", data=fields)
    assert again.status_code == 303
    assert secret not in again.text
    endpoints = (await client.get("/v1/webhook_endpoints", headers=owner.key_headers)).json()
    assert len(endpoints["data"]) == 1
    assert (
        again.headers["location"] == f"/dashboard/developers/webhooks/{endpoints['data'][0]['id']}"
    )
    shown = await browser.get(again.headers["location"])
    assert 'id="endpoint-created"' in shown.text
    assert REPLAYED in shown.text
    assert secret not in shown.text


async def audited(stack: Stack, merchant_id: str, action: str) -> int:
    async with stack.state.db.platform_transaction() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM audit_log WHERE merchant_id = :m AND action = :a"),
            {"m": merchant_id, "a": action},
        )
    return int(count or 0)


async def test_a_key_roll_posted_twice_rolls_once_and_shows_the_secret_once(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    keys_url = f"/v1/merchants/{owner.merchant_id}/api_keys"
    listed = await client.get(keys_url, params={"limit": 100}, headers=owner.user_headers)
    key_id = next(k["id"] for k in listed.json()["data"] if k["type"] == "secret")
    page = await browser.get(f"/dashboard/developers/api_keys/{key_id}/roll")
    assert (
        f'form data-once method="post" action="/dashboard/developers/api_keys/{key_id}/roll"'
        in (page.text)
    )
    fields = form_of(page, expires_in="3600")
    first = await browser.http.post(f"/dashboard/developers/api_keys/{key_id}/roll", data=fields)
    secret = shown_secret(first)
    again = await browser.http.post(f"/dashboard/developers/api_keys/{key_id}/roll", data=fields)
    assert again.status_code == 303
    assert again.headers["location"] == "/dashboard/developers/api_keys"
    shown = await browser.get(again.headers["location"])
    assert 'id="key-rolled"' in shown.text
    assert REPLAYED in shown.text
    assert secret not in shown.text
    assert await audited(stack, owner.merchant_id, "api_key.rolled") == 1
    # The one new key works, and its secret is the one shown the first time.
    answer = await client.get("/v1/balance", headers=bearer(secret))
    assert answer.status_code == 200


async def test_a_secret_roll_posted_twice_rolls_once(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    created = await browser.post_form(
        "/dashboard/developers/webhooks/new",
        "/dashboard/developers/webhooks",
        url="https://example.cm/hooks",
        events="*",
    )
    assert created.status_code == 200, created.text
    [endpoint] = (await client.get("/v1/webhook_endpoints", headers=owner.key_headers)).json()[
        "data"
    ]
    page_url = f"/dashboard/developers/webhooks/{endpoint['id']}"
    page = await browser.get(page_url)
    fields = form_of(page, expires_in="3600")
    first = await browser.http.post(f"{page_url}/roll", data=fields)
    secret = shown_secret(first)
    again = await browser.http.post(f"{page_url}/roll", data=fields)
    assert again.status_code == 303
    assert again.headers["location"] == page_url
    shown = await browser.get(page_url)
    assert 'id="secret-rolled"' in shown.text
    assert secret not in shown.text
    assert await audited(stack, owner.merchant_id, "webhook_endpoint.secret_rolled") == 1


async def test_an_invitation_posted_twice_sends_one_e_mail(
    shop: Api, browser_for: Any, stack: Stack
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    page = await browser.get("/dashboard/team")
    assert 'form data-once method="post" action="/dashboard/team/invitations"' in page.text
    fields = form_of(page, email="twice@example.cm", role="analyst")
    first = await browser.http.post("/dashboard/team/invitations", data=fields)
    assert first.status_code == 303, first.text
    again = await browser.http.post("/dashboard/team/invitations", data=fields)
    assert again.status_code == 303
    shown = await browser.get(again.headers["location"])
    assert REPLAYED in shown.text
    assert "une invitation en attente" not in shown.text  # not refused: the first one stands
    assert await audited(stack, owner.merchant_id, "member.invited") == 1
