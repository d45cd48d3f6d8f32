"""The Developers section in Debian's Chromium (Playwright) against the whole stack: create a
key, see its secret once, reload and find it redacted only; a webhook endpoint receiving a real
payment's event; screenshots of the keys, webhooks and event pages at phone and laptop sizes in
`.mboa/artifacts/dashboard/`."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, Page, expect

from tests.checkout.conftest import Stack
from tests.dashboard.conftest import pay
from tests.dashboard.test_browser import ARTIFACTS, LAPTOP, PHONE, WAIT, sign_in
from tests.helpers import Api, bearer
from tests.webhooks.conftest import Receiver, _receiver_server, receiver

__all__ = ["_receiver_server", "receiver"]


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_key_is_shown_once_then_only_redacted(
    client: httpx.AsyncClient, shop: Api, stack: Stack, chromium: Browser, receiver: Receiver
) -> None:
    account = await shop.signup(business="Boutique Akwa")
    context = await chromium.new_context(viewport=PHONE, locale="fr-CM")
    try:
        page = await context.new_page()
        await sign_in(page, stack, account.email)
        await page.click("nav.side a[href='/dashboard/developers']")
        await expect(page.locator("h1")).to_have_text("Développeurs", timeout=WAIT)
        await page.fill("#key-name", "caisse")
        await expect(page.locator("fieldset.scopes")).to_be_hidden()
        await page.select_option("#key-type", "restricted")
        await expect(page.locator("fieldset.scopes")).to_be_visible()
        await page.select_option("#key-type", "secret")
        await page.click("#create-key-button")
        secret_field = page.locator("#secret")
        await expect(secret_field).to_be_visible(timeout=WAIT)
        secret = await secret_field.input_value()
        assert secret.startswith("sk_test_")
        await shot(page, "developers-key-secret-fr-360")
        api = await client.get("/v1/customers", headers=bearer(secret))
        assert api.status_code == 200

        # Gone after the page: "I have stored it", then a reload, show it redacted only.
        await page.click("#done")
        await expect(page.locator("#create-key")).to_be_visible(timeout=WAIT)
        await page.reload()
        content = await page.content()
        assert secret not in content
        assert f"{secret[:8]}…{secret[-4:]}" in content
        await expect(page.locator("#secret")).to_have_count(0)
        await shot(page, "developers-keys-fr-360")

        # A webhook endpoint, then a payment's event delivered to it.
        await page.goto(f"{stack.url}/dashboard/developers/webhooks/new")
        await page.fill("#url", f"{receiver.url}/akwa")
        await page.check("input[name=events][value='*']")
        await page.fill("#description", "Commandes")
        await page.click("#create-endpoint")
        await expect(page.locator("#secret")).to_be_visible(timeout=WAIT)
        assert (await page.locator("#secret").input_value()).startswith("whsec_")
        await page.click("#done")
        await pay(client, account.secret_key, reference="akwa-1")
        await receiver.wait_for(lambda: bool(receiver.on("/akwa")), what="a delivery")
        await page.reload()
        await expect(page.locator(".deliveries tbody tr").first).to_be_visible(timeout=WAIT)
        await shot(page, "developers-webhook-fr-360")
        await page.goto(f"{stack.url}/dashboard/developers/webhooks")
        await shot(page, "developers-webhooks-fr-360")
        await page.goto(f"{stack.url}/dashboard/developers/events")
        await expect(page.locator(".events tbody tr").first).to_be_visible()
        await shot(page, "developers-events-fr-360")
        await page.locator(".events tbody tr a").first.click()
        await expect(page.locator("pre.json")).to_be_visible()
        await shot(page, "developers-event-fr-360")

        await page.set_viewport_size(LAPTOP)
        for name, path in (
            ("keys", "api_keys"),
            ("webhooks", "webhooks"),
            ("events", "events"),
            ("requests", "requests"),
        ):
            await page.goto(f"{stack.url}/dashboard/developers/{path}")
            await shot(page, f"developers-{name}-fr-1280")
        await page.goto(f"{stack.url}/dashboard/developers/webhooks")
        await page.locator(".endpoints tbody tr a").first.click()
        await expect(page.locator(".deliveries")).to_be_visible()
        await shot(page, "developers-webhook-fr-1280")
        assert secret not in await page.content()

        # English too.
        await page.click("button[name=locale][value=en]")
        await expect(page.locator("h1")).to_have_text("Developers", timeout=WAIT)
        for name, path in (("keys", "api_keys"), ("events", "events")):
            await page.goto(f"{stack.url}/dashboard/developers/{path}")
            await shot(page, f"developers-{name}-en-1280")
        await page.set_viewport_size(PHONE)
        await page.goto(f"{stack.url}/dashboard/developers/webhooks")
        await shot(page, "developers-webhooks-en-360")
    finally:
        await context.close()
