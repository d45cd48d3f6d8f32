"""The payment page's rate limits (docs/checkout.md, "Security"): confirm and resend are limited
per client address AND per phone number, through the real page routes of a second API whose
limits are set low (its settings: 2 actions per address and minute, 4 prompts per phone and
hour; loopback is a trusted proxy, so each request's X-Forwarded-For is its address). The
stack's worker and simulators serve it as they serve the stack (same database and Redis)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio

from mboa.config import HttpSettings, RateLimitSettings
from mboa.error_codes import serve_docs_at
from tests.checkout.conftest import Stack, create_session
from tests.conftest import other_api
from tests.helpers import Api

PENDING_ORANGE = "690000004"  # pending forever (docs/sandbox.md): the prompt can be resent
CLICK_ORANGE = "690000013"  # waits for a click on the simulator's phone page
PENDING_MTN = "670000004"
PER_ADDRESS = "Too many tries. Wait a minute and try again."
PER_PHONE_FR = (
    "Trop de demandes de paiement ont été envoyées à ce numéro. Réessayez dans une heure, "
    "ou payez avec un autre numéro."
)


@pytest_asyncio.fixture(loop_scope="session")
async def limited(
    client: httpx.AsyncClient, stack: Stack, database_url: str, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = stack.settings.model_copy(
        update={
            "rate_limit": RateLimitSettings(
                checkout_per_address_per_minute=2, checkout_per_phone_per_hour=4
            ),
            "http": HttpSettings(trusted_proxies=[ipaddress.ip_network("127.0.0.0/8")]),
        }
    )
    async with other_api(settings, database_url, redis_url) as (_, pages):
        yield pages
    serve_docs_at(stack.settings.base_url)  # create_app() moved it to the other API's


class Payer:
    """A browser without JavaScript on the limited API, from one address."""

    def __init__(self, pages: httpx.AsyncClient, address: str, language: str = "fr") -> None:
        self.pages = pages
        self.headers = {"x-forwarded-for": address, "accept-language": language}

    def path(self, session: dict[str, Any]) -> str:
        return "/pay/" + session["url"].rsplit("/pay/", 1)[1]

    async def hidden(self, session: dict[str, Any]) -> dict[str, str]:
        """The form's hidden fields (its CSRF token, the page's language), as a browser sends
        them back. `?change=1`: the form even while a request waits on a phone."""
        page = await self.pages.get(self.path(session) + "?change=1", headers=self.headers)
        assert page.status_code == 200, page.text
        fields = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page.text))
        assert "csrf" in fields, page.text
        return fields

    async def confirm(self, session: dict[str, Any], phone: str) -> httpx.Response:
        fields = await self.hidden(session)
        return await self.pages.post(
            self.path(session), data={**fields, "phone": phone}, headers=self.headers
        )

    async def resend(self, session: dict[str, Any]) -> httpx.Response:
        fields = await self.hidden(session)
        return await self.pages.post(
            self.path(session) + "/resend", data=fields, headers=self.headers
        )


async def _attempts(owner: asyncpg.Connection, session: dict[str, Any]) -> int:
    count: int = await owner.fetchval(
        "SELECT count(*) FROM payment_attempts WHERE payment_intent_id = $1",
        session["payment_intent"],
    )
    return count


def assert_too_many(response: httpx.Response, message: str, back: str = r"/pay/cs_[^\"]+") -> None:
    """A 429 page, not a redirect: the reason in the page's language, when to retry, a way back."""
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 3600
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text, response.text
    assert re.search(f'<a href="{back}">', response.text), response.text


async def test_confirm_is_limited_per_address_and_per_phone(
    client: httpx.AsyncClient,
    shop: Api,
    limited: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
) -> None:
    account = await shop.signup()
    sessions = [await create_session(client, account.secret_key, locale="en") for _ in range(3)]

    # Per address: two confirms a minute, whatever the numbers; the third is refused before
    # anything is written, in the page's language (the session's English, not the browser's
    # French). Another address is not affected.
    payer = Payer(limited, "203.0.113.10", language="fr")
    assert (await payer.confirm(sessions[0], "670000000")).status_code == 303
    assert (await payer.confirm(sessions[1], "650000000")).status_code == 303
    refused = await payer.confirm(sessions[2], "680000000")
    assert_too_many(refused, PER_ADDRESS)
    assert '<html lang="en"' in refused.text
    assert await _attempts(owner_connection, sessions[2]) == 0
    other = Payer(limited, "203.0.113.11")
    assert (await other.confirm(sessions[2], "680000000")).status_code == 303
    assert await _attempts(owner_connection, sessions[2]) == 1

    # Per phone: four prompts an hour to one number, from any number of addresses and pages.
    pending = [await create_session(client, account.secret_key) for _ in range(2)]
    for n in range(1, 5):
        # The first one prompts; the next ones are refused by the page (a request already
        # waits on that phone), but each still counts as a try against the number.
        sent = await Payer(limited, f"198.51.100.{n}").confirm(pending[0], "6 70 00 00 04")
        assert sent.status_code == 303, sent.text
    assert await _attempts(owner_connection, pending[0]) == 1
    refused = await Payer(limited, "198.51.100.5").confirm(pending[1], "+237670000004")
    assert_too_many(refused, PER_PHONE_FR)
    assert '<html lang="fr"' in refused.text
    assert await _attempts(owner_connection, pending[1]) == 0
    # That address may still pay with another number.
    sent = await Payer(limited, "198.51.100.5").confirm(pending[1], "650000000")
    assert sent.status_code == 303
    assert await _attempts(owner_connection, pending[1]) == 1


async def _waiting_for_resend(payer: Payer, session: dict[str, Any]) -> None:
    """Until the operator has the prompt (the worker sent it): the page offers the resend."""
    for _ in range(200):
        page = await payer.pages.get(payer.path(session), headers=payer.headers)
        if 'id="resend-button"' in page.text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(page.text)


def _pushes(stack: Stack, phone: str) -> list[int]:
    """How many times the Orange simulator pushed each of `phone`'s transactions."""
    return sorted(
        tx.pushes
        for tx in stack.sims.orange.transactions.values()
        if tx.kind == "collection" and str(getattr(tx, "msisdn", "")).endswith(phone)
    )


async def test_resend_is_limited_per_address_and_per_phone(
    client: httpx.AsyncClient, shop: Api, stack: Stack, limited: httpx.AsyncClient
) -> None:
    account = await shop.signup()
    first, second, third = [await create_session(client, account.secret_key) for _ in range(3)]

    # Per phone, across pages: two pages wait on the same Orange number.
    assert (await Payer(limited, "192.0.2.1").confirm(first, PENDING_ORANGE)).status_code == 303
    assert (await Payer(limited, "192.0.2.2").confirm(second, PENDING_ORANGE)).status_code == 303
    await _waiting_for_resend(Payer(limited, "192.0.2.1"), first)
    await _waiting_for_resend(Payer(limited, "192.0.2.2"), second)
    assert _pushes(stack, PENDING_ORANGE) == [1, 1]
    resent = await Payer(limited, "192.0.2.3").resend(first)
    assert resent.status_code == 303, resent.text
    assert resent.headers["location"].endswith("?resent=1")
    assert (await Payer(limited, "192.0.2.4").resend(second)).status_code == 303
    assert _pushes(stack, PENDING_ORANGE) == [2, 2]
    # Fifth prompt to that number within the hour (two confirms, two resends): refused, on
    # whichever page and from whichever address; the operator is not asked.
    refused = await Payer(limited, "192.0.2.5").resend(first)
    assert_too_many(refused, PER_PHONE_FR)
    assert _pushes(stack, PENDING_ORANGE) == [2, 2]

    # Per address: two resends a minute from one address, then a 429; another address may.
    assert (await Payer(limited, "192.0.2.20").confirm(third, CLICK_ORANGE)).status_code == 303
    await _waiting_for_resend(Payer(limited, "192.0.2.20"), third)
    payer = Payer(limited, "192.0.2.21", language="en")
    assert (await payer.resend(third)).status_code == 303
    assert (await payer.resend(third)).status_code == 303
    assert_too_many(await payer.resend(third), PER_ADDRESS)
    assert _pushes(stack, CLICK_ORANGE) == [3]
    assert (await Payer(limited, "192.0.2.22").resend(third)).status_code == 303
    assert _pushes(stack, CLICK_ORANGE) == [4]


async def test_link_visits_are_limited_per_address(
    client: httpx.AsyncClient,
    shop: Api,
    limited: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
) -> None:
    """A payment link's "Continue" opens a checkout session: two a minute per address."""
    account = await shop.signup()
    link = (
        await client.post(
            "/v1/payment_links",
            json={"currency": "XAF", "amount": 1000},
            headers=account.key_headers,
        )
    ).json()
    path = f"/l/{link['id']}"
    headers = {"x-forwarded-for": "203.0.113.30", "accept-language": "en"}
    page = await limited.get(path, headers=headers)
    fields = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    assert fields.keys() == {"csrf", "lang"}
    statuses = [
        (await limited.post(path, data=fields, headers=headers)).status_code for _ in range(2)
    ]
    assert statuses == [303, 303]
    refused = await limited.post(path, data=fields, headers=headers)
    assert_too_many(refused, PER_ADDRESS, back=re.escape(path))
    assert await owner_connection.fetchval("SELECT count(*) FROM checkout_sessions") == 2
