"""The payment pages in a real browser: Debian's Chromium driven by Playwright, against the real
API, worker and simulators (`tests/checkout/conftest.py`). One browser for the module; each test
its own context (cookies, language, JavaScript on or off) at 360 x 740, a low-end phone.

Screenshots go to `.mboa/artifacts/checkout/` (kept by CI as artifacts)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Request, async_playwright, expect

from tests.checkout.conftest import Stack, create_session
from tests.helpers import Api, bearer

CHROMIUM = os.environ.get("MBOA_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".mboa" / "artifacts" / "checkout"
PHONE = {"width": 360, "height": 740}
PAGE_BUDGET = 100_000
"""Bytes of the whole first load (docs/checkout.md): a payer on 2G pays for each one."""
WAIT = 20_000


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once per module)
        pytest.fail(
            f"{CHROMIUM} is missing: the payment pages are tested in Debian's Chromium. "
            "Install it with `apt-get install -y chromium` (.ci/run does), or point "
            "MBOA_TEST_CHROMIUM at a Chromium binary."
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        await launched.close()


class Visit:
    """A context at phone size that records every request the page makes."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.requests: list[Request] = []
        context.on("request", self._record)

    def _record(self, request: Request) -> None:
        self.requests.append(request)

    async def bytes_loaded(self) -> int:
        total = 0
        for request in self.requests:
            response = await request.response()
            if response is not None:
                sizes = await request.sizes()
                total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        return total


@pytest_asyncio.fixture(loop_scope="session")
async def visit(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    contexts: list[BrowserContext] = []

    async def open_context(**options: Any) -> tuple[Visit, Page]:
        context = await browser.new_context(viewport=PHONE, **options)
        contexts.append(context)
        return Visit(context), await context.new_page()

    yield open_context
    for context in contexts:
        await context.close()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def test_mtn_payment_lands_on_success_url(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any
) -> None:
    account = await shop.signup(business="Mama Ngono Couture")
    created = await create_session(
        client,
        account.secret_key,
        description="2 pagnes wax",
        success_url=f"{stack.url}/healthz?order=6735",
    )
    recorder, page = await visit(locale="fr-CM", extra_http_headers={"accept-language": "fr-CM"})
    await page.goto(created["url"])
    await expect(page.locator("#amount")).to_have_text("12\u202f500\u00a0FCFA")
    await shot(page, "form-fr")
    # Everything the first load needed came from us, and it fits a 2G budget.
    first_load = await recorder.bytes_loaded()
    origins = {urlsplit(r.url).netloc for r in recorder.requests}
    assert origins == {urlsplit(stack.url).netloc}, origins
    assert first_load <= PAGE_BUDGET, first_load

    await page.fill("#phone", "6 70 00 00 00")
    await expect(page.locator("input[value=mtn_momo]")).to_be_checked()
    await expect(page.locator("#detected")).to_have_text("Numéro MTN MoMo")
    await page.click("#pay-button")
    await page.wait_for_url(re.compile(r"/healthz\?order=6735&session_id=cs_"), timeout=WAIT)
    session = (
        await client.get(f"/v1/checkout/sessions/{created['id']}", headers=account.key_headers)
    ).json()
    assert session["status"] == "complete"
    assert {urlsplit(r.url).netloc for r in recorder.requests} == {urlsplit(stack.url).netloc}


async def test_refused_number_shows_french_reason_then_another_number_pays(
    client: httpx.AsyncClient, shop: Api, visit: Any
) -> None:
    account = await shop.signup(business="Boutique Akwa")
    created = await create_session(client, account.secret_key)
    _, page = await visit(extra_http_headers={"accept-language": "fr"})
    await page.goto(created["url"])
    await page.fill("#phone", "670000002")  # the payer refuses (docs/sandbox.md)
    await page.click("#pay-button")
    await expect(page.locator("#error-message")).to_have_text(
        "Le paiement a été refusé sur le téléphone. Vous pouvez réessayer.", timeout=WAIT
    )
    await shot(page, "refused-fr")
    await page.fill("#phone", "+237 670 000 000")
    await page.click("#pay-button")
    await expect(page.locator("#status-line")).to_have_text("Paiement reçu", timeout=WAIT)
    await expect(page.locator("#receipt")).to_contain_text("Boutique Akwa")
    await shot(page, "receipt-fr")


async def test_waiting_screen_and_orange_webpay_round_trip(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any
) -> None:
    account = await shop.signup(business="Poissonnerie Youpwe")
    created = await create_session(
        client, account.secret_key, success_url=f"{stack.url}/healthz", locale="en"
    )
    _, page = await visit()
    await page.goto(created["url"])
    await page.click("#webpay-button")
    # Orange's page (the simulator's WebPay): the payer confirms with an Orange number there.
    await page.wait_for_url(
        re.compile(re.escape(stack.sims.orange_url) + "/webpay/pay/"), timeout=WAIT
    )
    await page.fill("input[name=msisdn]", "690000000")
    await page.click("button[value=confirm]")
    await page.wait_for_url(re.compile(r"/healthz\?session_id=cs_"), timeout=WAIT)
    session = (
        await client.get(f"/v1/checkout/sessions/{created['id']}", headers=account.key_headers)
    ).json()
    assert session["status"] == "complete"


async def test_payment_link_with_a_chosen_amount(
    client: httpx.AsyncClient, shop: Api, visit: Any
) -> None:
    account = await shop.signup(business="Tontine Bonamoussadi")
    response = await client.post(
        "/v1/payment_links",
        json={
            "currency": "XAF",
            "custom_amount": {"minimum": 500, "maximum": 50000},
            "description": "Cotisation de décembre",
            "fields": ["name"],
            "after_completion": {
                "type": "hosted_confirmation",
                "hosted_confirmation": {"custom_message": "Merci pour votre cotisation !"},
            },
        },
        headers=account.key_headers,
    )
    assert response.status_code == 200, response.text
    link = response.json()
    _, page = await visit(extra_http_headers={"accept-language": "fr"})
    await page.goto(link["url"])
    await shot(page, "link-fr")
    await page.fill("#amount", "100")
    await page.click("#continue-button")
    await expect(page.locator("#error-message")).to_have_text(
        "Ce montant est trop faible pour ce lien."
    )
    await page.fill("#amount", "2 500")
    await page.fill("#name", "Ngo Bassa")
    await page.click("#continue-button")
    await expect(page.locator("#amount")).to_have_text("2\u202f500\u00a0FCFA")
    await page.fill("#phone", "650000000")
    await page.click("#pay-button")
    await expect(page.locator("#status-line")).to_have_text("Paiement reçu", timeout=WAIT)
    await expect(page.locator(".message")).to_have_text("Merci pour votre cotisation !")
    payments = (
        await client.get(
            f"/v1/payment_links/{link['id']}/payment_intents", headers=account.key_headers
        )
    ).json()["data"]
    assert [(p["amount"], p["status"]) for p in payments] == [(2500, "succeeded")]
    sessions = (
        await client.get(
            "/v1/checkout/sessions",
            params={"payment_link": link["id"]},
            headers=bearer(account.secret_key),
        )
    ).json()["data"]
    assert sessions[0]["customer_details"] == {"name": "Ngo Bassa", "note": None}


async def test_expired_session_says_so(client: httpx.AsyncClient, shop: Api, visit: Any) -> None:
    account = await shop.signup()
    created = await create_session(client, account.secret_key)
    expired = await client.post(
        f"/v1/checkout/sessions/{created['id']}/expire", headers=account.key_headers
    )
    assert expired.status_code == 200
    _, page = await visit(extra_http_headers={"accept-language": "en-GB,en;q=0.9"})
    await page.goto(created["url"])
    await expect(page.locator("#status-line")).to_have_text("This payment page has expired")
    await expect(page.locator("#pay-form")).to_have_count(0)


async def test_language_follows_the_browser_and_the_switch(
    client: httpx.AsyncClient, shop: Api, visit: Any
) -> None:
    account = await shop.signup(business="Chez Tantine")
    created = await create_session(client, account.secret_key)
    _, page = await visit(extra_http_headers={"accept-language": "en-US,en;q=0.9,fr;q=0.5"})
    await page.goto(created["url"])
    await expect(page.locator("#pay-button")).to_have_text("Pay 12,500\u00a0FCFA")
    await shot(page, "form-en")
    await page.click("a[hreflang=fr]")
    await expect(page.locator("#pay-button")).to_have_text("Payer 12\u202f500\u00a0FCFA")
    await page.goto(created["url"])  # the choice is remembered
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await page.fill("#phone", "662000000")  # Nexttel: no wallet here
    await expect(page.locator("#detected")).to_contain_text("ne peut pas payer ici")


async def test_works_with_javascript_off(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any
) -> None:
    account = await shop.signup(business="Librairie Mvog-Ada")
    created = await create_session(
        client, account.secret_key, success_url=f"{stack.url}/healthz?nojs=1"
    )
    _, page = await visit(java_script_enabled=False, extra_http_headers={"accept-language": "fr"})
    await page.goto(created["url"])
    await page.fill("#phone", "670000000")
    await page.click("#pay-button")
    # Plain post, then the waiting screen refreshes itself until the receipt redirects.
    await page.wait_for_url(re.compile(r"/healthz\?nojs=1&session_id=cs_"), timeout=WAIT)
