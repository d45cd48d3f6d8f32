"""The payment page's actions and what it shows, through plain HTTP as a browser without
JavaScript sends it (the real API, worker and simulators of `tests/checkout/conftest.py`):
the Orange Money waiting screen and its "send the request again", "use another number", the
masked number, the server-sent events, the strict CSP, nothing secret on the page, and the
session's optional fields (docs/checkout.md)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
import httpx
import orjson

from mboa.checkout import csrf as csrf_module
from tests.checkout.conftest import Stack, create_session
from tests.helpers import Api, assert_error, bearer

PENDING_ORANGE = "690000004"  # pending forever (docs/sandbox.md)
CLICK_ORANGE = "690000013"  # waits for a click on the simulator's phone page
PENDING_MTN = "670000004"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class Payer:
    """A browser without JavaScript: its own cookies, French unless told."""

    def __init__(self, stack: Stack, language: str = "fr") -> None:
        self.http = httpx.AsyncClient(
            base_url=stack.url, timeout=30, headers={"accept-language": language}
        )

    async def __aenter__(self) -> Payer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def page(self, url: str) -> httpx.Response:
        page = await self.http.get(url)
        assert page.status_code == 200, page.text
        return page

    async def csrf(self, url: str) -> str:
        token = re.search(r'name="csrf" value="([^"]+)"', (await self.page(url)).text)
        assert token, url
        return token.group(1)

    async def post(self, url: str, path: str = "", **data: str) -> httpx.Response:
        response = await self.http.post(url + path, data={"csrf": await self.csrf(url), **data})
        assert response.status_code == 303, response.text
        return response

    async def until(self, url: str, marker: str) -> str:
        """The page, once it shows `marker` (the worker and the operator take a moment)."""
        text = ""
        for _ in range(300):
            text = (await self.page(url)).text
            if marker in text:
                return text
            await asyncio.sleep(0.05)
        raise AssertionError(f"{marker!r} never shown:\n{text}")


async def _sim(stack: Stack, msisdn: str) -> list[dict[str, Any]]:
    """The Orange simulator's transactions for `msisdn`, read over its control API."""
    async with httpx.AsyncClient(base_url=stack.sims.orange_url) as sim:
        response = await sim.get("/_sim/transactions", params={"msisdn": msisdn})
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_orange_waiting_screen_resend_and_masked_number(
    client: httpx.AsyncClient, shop: Api, stack: Stack
) -> None:
    account = await shop.signup(business="Bonapriso Fleurs")
    created = await create_session(client, account.secret_key)
    url = created["url"]
    async with Payer(stack) as payer:
        await payer.post(url, phone=f"+237 {PENDING_ORANGE}")
        waiting = await payer.until(url, 'id="resend-button"')
        assert "#150#" in waiting
        assert "*126#" not in waiting
        # The payer's own number, masked; never whole, in any of its forms.
        assert "Déverrouillez votre téléphone *********004." in waiting
        for form in (PENDING_ORANGE, "237" + PENDING_ORANGE, "69 00 00 00 04", "6900"):
            assert form not in waiting, form
        [tx] = await _sim(stack, PENDING_ORANGE)
        assert tx["pushes"] == 1

        resent = await payer.post(url, "/resend")
        assert resent.headers["location"] == url.removeprefix(stack.url) + "?resent=1"
        shown = await payer.page(resent.headers["location"])
        assert "La demande a été renvoyée." in shown.text
        # The operator was asked to push the prompt again (Orange `mp/push`).
        [tx] = await _sim(stack, PENDING_ORANGE)
        assert tx["pushes"] == 2

    # MTN MoMo cannot push again: its payers dial *126#. A forged resend says so on the page.
    mtn = await create_session(client, account.secret_key)
    async with Payer(stack, language="en") as payer:
        await payer.post(mtn["url"], phone=PENDING_MTN)
        waiting = await payer.until(mtn["url"], "*126#")
        assert 'id="resend-button"' not in waiting
        token = csrf_module.token(
            stack.state.jwt_secret, payer.http.cookies[csrf_module.COOKIE], mtn["id"]
        )
        refused = await payer.http.post(mtn["url"] + "/resend", data={"csrf": token})
        assert refused.status_code == 303
        shown = await payer.page(refused.headers["location"])
        assert "The request could not be sent again. Dial the code shown to approve it." in (
            shown.text
        )


async def test_use_another_number(
    client: httpx.AsyncClient, shop: Api, stack: Stack, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup()
    created = await create_session(client, account.secret_key, locale="en")
    url = created["url"]
    path = url.removeprefix(stack.url)
    async with Payer(stack, language="en") as payer:
        await payer.post(url, phone=CLICK_ORANGE)
        waiting = await payer.until(url, 'id="resend-button"')  # the operator has it
        assert f'<a href="{path}?change=1" id="another-number">Use another number</a>' in waiting

        changing = await payer.page(url + "?change=1")
        assert "Enter the number that will pay." in changing.text
        assert 'id="pay-form"' in changing.text
        # The first request still waits on a phone: one at a time, and the page says why.
        sent = await payer.post(url + "?change=1", phone="650000000")
        assert sent.headers["location"] == path
        back = await payer.page(path)
        assert 'id="status-line">Approve the payment on your phone' in back.text
        assert "A request is still waiting on a phone." in back.text
        attempts = "SELECT count(*) FROM payment_attempts WHERE payment_intent_id = $1"
        assert await owner_connection.fetchval(attempts, created["payment_intent"]) == 1

        # Refused on that phone: the form again, with the reason; another number then pays.
        [tx] = await _sim(stack, CLICK_ORANGE)
        async with httpx.AsyncClient(base_url=stack.sims.orange_url) as sim:
            assert (await sim.post(f"/_sim/transactions/{tx['id']}/reject")).status_code == 200
        refused = await payer.until(url, 'id="error-message"')
        assert "The payment was refused on the phone. You can try again." in refused
        await payer.post(url, phone="650000000")
        await payer.until(url, "Payment received")
        assert await owner_connection.fetchval(attempts, created["payment_intent"]) == 2


async def test_events_follow_the_attempt_until_it_is_final(
    client: httpx.AsyncClient, shop: Api, stack: Stack
) -> None:
    account = await shop.signup()
    created = await create_session(client, account.secret_key)
    url = created["url"]
    async with Payer(stack) as payer:
        await payer.post(url, phone="670000000")  # approved after 0.3 s
        events: list[dict[str, Any]] = []
        async with payer.http.stream("GET", url + "/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-store"
            async with asyncio.timeout(20):
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        events.append(orjson.loads(line.removeprefix("data: ")))
        # The stream ends by itself once the attempt is final, with that state last.
        assert events, "no event"
        assert events[-1]["state"] == "succeeded"
        assert all(event["state"] in ("waiting", "succeeded") for event in events)
        assert events[-1]["attempt"] == (await payer.http.get(url + "/status")).json()["attempt"]
        # A wrong URL is a 404, not a stream.
        missing = await payer.http.get(url[:-4] + "AAAA/events")
        assert missing.status_code == 404


async def test_strict_csp_and_nothing_secret_on_the_pages(
    client: httpx.AsyncClient, shop: Api, stack: Stack
) -> None:
    account = await shop.signup(business="Quincaillerie Mokolo")
    other = await shop.signup(business="Pharmacie Tsinga")
    mine = await create_session(client, account.secret_key, phone="670000000")
    theirs = await create_session(
        client, other.secret_key, phone="650000000", description="Ordonnance 42"
    )
    link = (
        await client.post(
            "/v1/payment_links",
            json={"currency": "XAF", "amount": 1500, "description": "Clous"},
            headers=account.key_headers,
        )
    ).json()
    async with Payer(stack) as payer:
        pages = [
            await payer.http.get(mine["url"]),
            await payer.http.get(link["url"]),
            await payer.http.get(mine["url"][:-4] + "AAAA"),  # a 404 page
            await payer.http.get(f"{stack.url}/l/plink_nope"),
        ]
        await payer.post(mine["url"], phone="670000004")
        pages.append(await payer.http.get(mine["url"]))  # the waiting screen
        cookie = payer.http.cookies[csrf_module.COOKIE]
        for page in pages:
            assert page.headers["content-security-policy"] == PAGE_CSP, page.url
            assert "'unsafe-inline'" not in page.headers["content-security-policy"]
            assert page.headers["content-type"].startswith("text/html")
            # No inline script or style, no handler attribute: the CSP forbids them anyway.
            assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), page.url
            assert "<style" not in page.text
            assert " style=" not in page.text
            assert not re.search(r"\son[a-z]+=", page.text), page.url
            secrets = (
                account.secret_key,
                account.publishable_key,
                other.secret_key,
                stack.state.jwt_secret,
                cookie,  # the CSRF cookie (HttpOnly) never appears: only the page's token
            )
            for secret in secrets:
                assert secret not in page.text, page.url
            # Nothing of the other merchant's customer.
            for theirs_text in (
                "Pharmacie Tsinga",
                "Ordonnance 42",
                "650000000",
                theirs["id"],
                theirs["url"].rsplit("_", 1)[1],
            ):
                assert theirs_text not in page.text, (page.url, theirs_text)
        # The page's token is the HMAC of this browser's cookie and this page: not the secret.
        token = re.search(r'name="csrf" value="([^"]+)"', pages[0].text)
        assert token
        assert token.group(1) == csrf_module.token(stack.state.jwt_secret, cookie, mine["id"])


async def test_session_fields_prefill_customer_cancel_url_and_expire(
    client: httpx.AsyncClient, shop: Api, stack: Stack, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup()
    customer = await shop.create_customer(account.secret_key, name="Ngo Ndjock", phone="650000000")
    created = await create_session(
        client,
        account.secret_key,
        phone="+237 6 70 00 00 04",
        customer=customer["id"],
        cancel_url="https://shop.example.cm/panier",
    )
    intent = (
        await client.get(
            f"/v1/payment_intents/{created['payment_intent']}", headers=account.key_headers
        )
    ).json()
    assert intent["customer"] == customer["id"]
    async with Payer(stack) as payer:
        page = await payer.page(created["url"])
        # The prefilled number, in the national form the payer knows.
        assert re.search(r'<input id="phone"[^>]*value="670000004"', page.text, re.S), page.text
        assert '<a href="https://shop.example.cm/panier">Annuler et revenir à la boutique</a>' in (
            page.text
        )
        # Confirmed as prefilled: the request is now with the operator, so the session cannot be
        # expired under the payer (they may be approving it).
        await payer.post(created["url"], phone="670000004")
        await payer.until(created["url"], "*126#")
    refused = await client.post(
        f"/v1/checkout/sessions/{created['id']}/expire", headers=account.key_headers
    )
    error = assert_error(refused, 409, code="checkout_session_unexpected_state")
    assert "with the operator" in error["message"]
    session = await client.get(
        f"/v1/checkout/sessions/{created['id']}", headers=account.key_headers
    )
    assert session.json()["status"] == "open"

    # Live mode: a cancel_url over plain http is refused, and nothing is written.
    _, live_key = await shop.live_account()
    before = await owner_connection.fetchval("SELECT count(*) FROM checkout_sessions")
    response = await client.post(
        "/v1/checkout/sessions",
        json={
            "amount": 1000,
            "currency": "XAF",
            "success_url": "https://shop.cm/ok",
            "cancel_url": "http://shop.cm/panier",
        },
        headers=bearer(live_key),
    )
    assert_error(response, 400, code="url_invalid", param="cancel_url")
    assert await owner_connection.fetchval("SELECT count(*) FROM checkout_sessions") == before
    intents = "SELECT count(*) FROM payment_intents WHERE livemode"
    assert await owner_connection.fetchval(intents) == 0
