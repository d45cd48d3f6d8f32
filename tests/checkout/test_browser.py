"""The payment pages in a real browser: Debian's Chromium driven by Playwright, against the real
API, worker and simulators (`tests/checkout/conftest.py`). One browser for the module; each test
its own context (cookies, language, JavaScript on or off) at 360 x 740, a low-end phone.

Screenshots go to `.mboa/artifacts/checkout/` (kept by CI as artifacts)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Route,
    async_playwright,
    expect,
)

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


# -- live updates, the Orange actions, JavaScript off, English ---------------------------------


async def approve_on_the_phone(stack: Stack, msisdn: str) -> None:
    """The payer approves the waiting request (the MTN simulator's control API)."""
    async with httpx.AsyncClient(base_url=stack.sims.mtn_url) as sim:
        for _ in range(200):
            waiting = (
                await sim.get("/_sim/transactions", params={"msisdn": msisdn, "state": "pending"})
            ).json()
            if waiting:
                break
            await asyncio.sleep(0.05)
        [tx] = waiting
        assert (await sim.post(f"/_sim/transactions/{tx['id']}/approve")).status_code == 200


async def test_live_updates_fall_back_to_polling_when_events_fail(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any
) -> None:
    """The waiting screen follows the attempt over server-sent events; when they fail (a proxy
    that buffers or drops them), it polls `/status` and still reaches the outcome. The payer
    approves only once the waiting screen is up, so the page has to learn it live."""
    account = await shop.signup()
    blocked = await create_session(client, account.secret_key, success_url=f"{stack.url}/healthz")
    recorder, page = await visit(extra_http_headers={"accept-language": "fr"})
    refused_streams: list[str] = []

    async def refuse(route: Route) -> None:
        refused_streams.append(route.request.url)
        await route.abort()

    await page.route(re.compile(r"/pay/cs_[^/]+/events$"), refuse)
    await page.goto(blocked["url"])
    await page.fill("#phone", "670000013")  # waits for the payer (docs/sandbox.md)
    await page.click("#pay-button")
    await expect(page.locator("#waiting")).to_be_visible(timeout=WAIT)
    for _ in range(100):
        if refused_streams:
            break
        await page.wait_for_timeout(50)
    assert refused_streams, "the page never opened its event stream"
    await approve_on_the_phone(stack, "237670000013")
    await page.wait_for_url(re.compile(r"/healthz\?session_id=cs_"), timeout=WAIT)
    polled = [r.url for r in recorder.requests if r.url.endswith("/status")]
    assert polled, "the page did not fall back to polling"

    # With the stream working, the page needs no polling at all.
    followed = await create_session(client, account.secret_key, success_url=f"{stack.url}/healthz")
    recorder, page = await visit(extra_http_headers={"accept-language": "fr"})
    await page.goto(followed["url"])
    await page.fill("#phone", "670000013")
    await page.click("#pay-button")
    await expect(page.locator("#waiting")).to_be_visible(timeout=WAIT)
    await approve_on_the_phone(stack, "237670000013")
    await page.wait_for_url(re.compile(r"/healthz\?session_id=cs_"), timeout=WAIT)
    urls = [r.url for r in recorder.requests]
    assert any(url.endswith("/events") for url in urls), urls
    assert not any(url.endswith("/status") for url in urls), urls


async def test_orange_waiting_screen_resends_the_prompt(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any
) -> None:
    account = await shop.signup(business="Boulangerie Deido")
    created = await create_session(client, account.secret_key)
    _, page = await visit(extra_http_headers={"accept-language": "fr"})
    await page.goto(created["url"])
    await page.fill("#phone", "690000004")  # Orange, pending until it expires
    await expect(page.locator("input[value=orange_money]")).to_be_checked()
    await page.click("#pay-button")
    await expect(page.locator(".ussd")).to_contain_text("#150#", timeout=WAIT)
    # The button comes once the operator has the request (the page reloads to show it).
    await page.goto(created["url"])
    for _ in range(100):
        if await page.locator("#resend-button").count():
            break
        await page.wait_for_timeout(100)
        await page.goto(created["url"])
    html = await page.content()
    assert "690000004" not in html
    assert "*********004" in html
    await shot(page, "waiting-orange-fr")
    await page.click("#resend-button")
    await expect(page.get_by_role("status")).to_have_text("La demande a été renvoyée.")
    async with httpx.AsyncClient(base_url=stack.sims.orange_url) as sim:
        [tx] = (await sim.get("/_sim/transactions", params={"msisdn": "690000004"})).json()
    assert tx["pushes"] == 2


async def test_orange_webpay_with_javascript_off(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any
) -> None:
    """Without JavaScript, the page's `<noscript>` refresh sends the payer to Orange's page once
    it exists, and back from it the refresh follows the payment to `success_url`."""
    account = await shop.signup()
    created = await create_session(
        client, account.secret_key, success_url=f"{stack.url}/healthz?nojs=webpay"
    )
    _, page = await visit(java_script_enabled=False, extra_http_headers={"accept-language": "en"})
    await page.goto(created["url"])
    await page.click("#webpay-button")
    await page.wait_for_url(
        re.compile(re.escape(stack.sims.orange_url) + "/webpay/pay/"), timeout=WAIT
    )
    await page.fill("input[name=msisdn]", "690000000")
    await page.click("button[value=confirm]")
    await page.wait_for_url(re.compile(r"/healthz\?nojs=webpay&session_id=cs_"), timeout=WAIT)


async def test_refused_number_in_english(client: httpx.AsyncClient, shop: Api, visit: Any) -> None:
    account = await shop.signup()
    created = await create_session(client, account.secret_key)
    _, page = await visit(extra_http_headers={"accept-language": "en-GB,en;q=0.9"})
    await page.goto(created["url"])
    await page.fill("#phone", "670000002")
    await page.click("#pay-button")
    await expect(page.locator("#error-message")).to_have_text(
        "The payment was refused on the phone. You can try again.", timeout=WAIT
    )
    await expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    await shot(page, "refused-en")


# -- made for a 360 px phone --------------------------------------------------------------------

CLS_OBSERVER = """
window.__cls = 0;
new PerformanceObserver(function (list) {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__cls += entry.value;
  }
}).observe({ type: "layout-shift", buffered: true });
"""


async def fits_the_phone(page: Page, name: str) -> None:
    """No horizontal scrolling at 360 px, no layout shift worth the name; a screenshot kept."""
    sizes = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert sizes[0] <= sizes[2], (name, sizes)
    assert sizes[1] <= sizes[2], (name, sizes)
    cls = await page.evaluate("() => window.__cls")
    assert cls < 0.1, (name, cls)
    await shot(page, name)


async def test_usable_at_360px_by_keyboard_with_named_fields(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any
) -> None:
    account = await shop.signup(business="Établissements Fotso et Fils de Bafoussam")
    created = await create_session(
        client,
        account.secret_key,
        description="Sac de riz parfumé 25 kg, livraison à Bonabéri comprise",
        success_url=f"{stack.url}/healthz?kb=1",
    )
    _, page = await visit(extra_http_headers={"accept-language": "en"})
    await page.add_init_script(CLS_OBSERVER)
    await page.goto(created["url"])
    await fits_the_phone(page, "phone360-form-en")

    # Every field has a name a screen reader reads out.
    inputs = page.locator("form input:not([type=hidden])")
    named = [
        page.get_by_role("radio", name="MTN MoMo"),
        page.get_by_role("radio", name="Orange Money"),
        page.get_by_label("Your mobile money number"),
    ]
    assert await inputs.count() == len(named)
    for field in named:
        await expect(field).to_have_count(1)
    await expect(page.get_by_role("button", name="Pay 12,500\u00a0FCFA")).to_be_visible()
    await expect(
        page.get_by_role("button", name="Pay on the Orange Money page instead")
    ).to_be_visible()
    await expect(page.get_by_role("group", name="Pay with")).to_be_visible()

    # Keyboard only: Tab to the number, type it, Enter sends the form.
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement.id") == "phone":
            break
    else:
        raise AssertionError("Tab never reached the number field")
    await page.keyboard.type("670000002")  # the payer refuses
    await page.keyboard.press("Enter")
    await expect(page.locator("#error-message")).to_be_visible(timeout=WAIT)
    await fits_the_phone(page, "phone360-failure-en")
    # Retry, keyboard only again: the number field is reachable and clears with the keys.
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement.id") == "phone":
            break
    else:
        raise AssertionError("Tab never reached the number field")
    await page.keyboard.press("ControlOrMeta+a")
    await page.keyboard.type("670000000")
    await page.keyboard.press("Enter")
    await expect(page.locator("#status-line")).to_have_text("Payment received", timeout=WAIT)
    await fits_the_phone(page, "phone360-success-en")
    await page.wait_for_url(re.compile(r"/healthz\?kb=1&session_id=cs_"), timeout=WAIT)

    waiting = await create_session(client, account.secret_key)
    _, page = await visit(extra_http_headers={"accept-language": "fr"})
    await page.add_init_script(CLS_OBSERVER)
    await page.goto(waiting["url"])
    await page.get_by_label("Votre numéro mobile money").fill("670000004")  # pending
    await page.get_by_role("button", name="Payer 12\u202f500\u00a0FCFA").click()
    await expect(page.locator("#status-line")).to_have_text(
        "Validez le paiement sur votre téléphone", timeout=WAIT
    )
    await expect(page.get_by_role("link", name="Utiliser un autre numéro")).to_be_visible()
    await fits_the_phone(page, "phone360-waiting-fr")


async def test_payment_link_fields_are_named_and_fit_360px(
    client: httpx.AsyncClient, shop: Api, visit: Any
) -> None:
    account = await shop.signup(business="Couture Mendong")
    link = (
        await client.post(
            "/v1/payment_links",
            json={
                "currency": "XAF",
                "custom_amount": {"minimum": 1000, "maximum": 100000},
                "fields": ["name", "note"],
            },
            headers=account.key_headers,
        )
    ).json()
    _, page = await visit(extra_http_headers={"accept-language": "en"})
    await page.add_init_script(CLS_OBSERVER)
    await page.goto(link["url"])
    assert await page.locator("form input:not([type=hidden])").count() == 3
    for label in ("Amount (FCFA)", "Your name", "Note for the merchant"):
        await expect(page.get_by_label(label)).to_have_count(1)
    await fits_the_phone(page, "phone360-link-en")
