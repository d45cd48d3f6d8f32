"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the real API,
worker and simulators. Few tests, each a whole journey: sign in, watch a payment made through
the API appear and turn succeeded without reloading, refund it from its page, switch the
language. Screenshots of the main pages (phone and laptop sizes) go to
`.mboa/artifacts/dashboard/` (kept by CI as artifacts)."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect

from tests.checkout.conftest import Stack
from tests.dashboard.conftest import pay
from tests.helpers import PASSWORD, Api

ARTIFACTS = Path(__file__).resolve().parents[2] / ".mboa" / "artifacts" / "dashboard"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
WAIT = 20_000


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def sign_in(page: Page, stack: Stack, email: str) -> None:
    await page.goto(f"{stack.url}/dashboard")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#signin")
    await expect(page.locator("h1")).to_have_text("Accueil", timeout=WAIT)


async def test_a_payment_appears_live_then_is_refunded_and_the_language_switches(
    client: httpx.AsyncClient, shop: Api, stack: Stack, chromium: Browser
) -> None:
    account = await shop.signup(business="Mama Ngono Couture")
    context = await chromium.new_context(viewport=PHONE, locale="fr-CM")
    try:
        page = await context.new_page()
        await page.goto(f"{stack.url}/dashboard/login")
        await shot(page, "login-fr-360")
        await sign_in(page, stack, account.email)
        await expect(page.locator(".testband")).to_be_visible()
        await page.goto(f"{stack.url}/dashboard/payments")
        await expect(page.locator("#empty")).to_be_visible()
        # The page's event stream is open (its position taken) before the payment exists.
        await expect(page.locator("body[data-stream-open]")).to_have_count(1, timeout=WAIT)

        intent = await pay(client, account.secret_key, reference="pagne-6735")
        row = page.locator(f"#row-{intent['id']}")
        await expect(row).to_be_visible(timeout=WAIT)
        await expect(row.locator(".badge")).to_have_text("Réussi", timeout=WAIT)
        await expect(row.locator("td.num")).to_have_text("12\u202f500\u00a0FCFA")
        await shot(page, "payments-fr-360")

        await row.locator("a").click()
        await expect(page.locator("#status .badge")).to_have_text("Réussi")
        await shot(page, "payment-fr-360")
        await page.click("#refund")
        await page.fill("#amount", "2500")
        await expect(page.locator("#confirm-refund")).to_contain_text("2")
        await page.click("#confirm-refund")
        await expect(page.locator(".notice")).to_be_visible(timeout=WAIT)
        await expect(page.locator("#refunded")).to_have_text("2\u202f500\u00a0FCFA")
        refunds = (
            await client.get(
                "/v1/refunds", params={"payment_intent": intent["id"]}, headers=account.key_headers
            )
        ).json()["data"]
        assert [r["amount"] for r in refunds] == [2500]

        await page.goto(f"{stack.url}/dashboard")
        await expect(page.locator("#available")).to_be_visible()
        await shot(page, "home-fr-360")
        await page.click("button[name=locale][value=en]")
        await expect(page.locator("h1")).to_have_text("Home")
        await shot(page, "home-en-360")
        # Remembered for this user: a new browser signs in to English.
        other = await chromium.new_context(viewport=LAPTOP, locale="fr-CM")
        try:
            laptop = await other.new_page()
            await laptop.goto(f"{stack.url}/dashboard/login")
            await laptop.fill("#email", account.email)
            await laptop.fill("#password", PASSWORD)
            await laptop.click("#signin")
            await expect(laptop.locator("h1")).to_have_text("Home", timeout=WAIT)
            await shot(laptop, "home-en-1280")
            await laptop.goto(f"{stack.url}/dashboard/payments")
            await shot(laptop, "payments-en-1280")
            await laptop.goto(f"{stack.url}/dashboard/payments/{intent['id']}")
            await expect(laptop.locator(".timeline li").first).to_be_visible()
            await shot(laptop, "payment-en-1280")
        finally:
            await other.close()
    finally:
        await context.close()


async def test_an_analyst_has_no_refund_button(
    client: httpx.AsyncClient, shop: Api, stack: Stack, chromium: Browser
) -> None:
    owner = await shop.signup()
    analyst = await shop.add_member(owner, "analyst")
    intent = await pay(client, owner.secret_key)
    context = await chromium.new_context(viewport=PHONE, locale="fr-CM")
    try:
        page = await context.new_page()
        await sign_in(page, stack, analyst.email)
        await page.goto(f"{stack.url}/dashboard/payments/{intent['id']}")
        await expect(page.locator("#status .badge")).to_have_text("Réussi", timeout=WAIT)
        await expect(page.locator("#refund")).to_have_count(0)
        response = await page.goto(f"{stack.url}/dashboard/payments/{intent['id']}/refund")
        assert response is not None
        assert response.status == 403
    finally:
        await context.close()
