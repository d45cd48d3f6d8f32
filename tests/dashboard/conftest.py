"""The dashboard against a whole stack: the real API on a socket, a worker and the simulators
(the payment pages' stack, `tests/checkout/conftest.py`, one per package), and a signed-in
browser-like client (cookies, CSRF tokens read from the pages' forms)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest_asyncio

from tests.browser import chromium
from tests.checkout.conftest import Stack, client, shop, stack
from tests.helpers import PASSWORD, Account, bearer
from tests.ledger.conftest import ledger_db

__all__ = ["Stack", "chromium", "client", "ledger_db", "shop", "stack"]

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOTP_SECRETS: dict[str, list[object]] = {}
"""email -> [TOTP secret, the next time step to use] of users whose two-factor sign-in the
tests turned on: each code is accepted once, within one step either side of now."""


def next_totp_code(email: str) -> str:
    secret, step = TOTP_SECRETS[email]
    assert isinstance(secret, str)
    assert isinstance(step, int)
    TOTP_SECRETS[email][1] = step + 1
    return pyotp.TOTP(secret).at(step * 30)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:2000]
    return found.group(1)


FORM_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def form_key_of(html: str) -> str:
    """The key a money form's page rendered (docs/dashboard.md "Double submits")."""
    found = FORM_KEY.search(html)
    assert found, html[:2000]
    return found.group(1)


class Browser:
    """An HTTP client that keeps cookies and posts forms as a browser does."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def post_form(self, page: str, action: str, **fields: str) -> httpx.Response:
        """Open `page`, then post `fields` to `action` with that page's CSRF token (and the
        key a form sent once renders, when the page has one)."""
        shown = await self.http.get(page)
        assert shown.status_code == 200, shown.text
        sent = {"csrf": csrf_of(shown.text)}
        if FORM_KEY.search(shown.text):
            sent["idempotency_key"] = form_key_of(shown.text)
        return await self.http.post(action, data={**sent, **fields})

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        response = await self.post_form(
            "/dashboard/login", "/dashboard/login", email=email, password=password
        )
        assert response.status_code == 303, response.text
        step = response.headers["location"]
        if step.startswith("/dashboard/login/two-factor"):
            # A user with two-factor sign-in (staff, tests/console/conftest.py): the code.
            response = await self.post_form(
                step,
                "/dashboard/login/two-factor",
                code=next_totp_code(email),
                next=parse_qs(urlsplit(step).query).get("next", ["/dashboard"])[0],
            )
            assert response.status_code == 303, response.text
        return response


@pytest_asyncio.fixture(loop_scope="session")
async def browser_for(stack: Stack, client: httpx.AsyncClient) -> AsyncIterator[Any]:
    opened: list[httpx.AsyncClient] = []

    async def open_browser(account: Account | None = None) -> Browser:
        http = httpx.AsyncClient(base_url=stack.url, timeout=30)
        opened.append(http)
        browser = Browser(http)
        if account is not None:
            await browser.sign_in(account.email)
        return browser

    yield open_browser
    for http in opened:
        await http.aclose()


async def pay(http: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    """A payment intent through the API, prompting a simulator wallet that approves."""
    response = await http.post(
        "/v1/payment_intents",
        json={"amount": 12500, "currency": "XAF", "phone": "670000000", **body},
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
