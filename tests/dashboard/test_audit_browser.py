"""The audit log page in Debian's Chromium: usable at 360 px (no page-wide horizontal scroll),
details open from the keyboard, French and English; screenshots to `.mboa/artifacts/dashboard/`."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from tests.checkout.conftest import Stack
from tests.dashboard.test_browser import LAPTOP, PHONE, WAIT, shot, sign_in
from tests.helpers import Api


async def test_audit_page_at_phone_and_laptop_sizes(
    client: httpx.AsyncClient, shop: Api, stack: Stack, chromium: Browser
) -> None:
    account = await shop.signup(business="Mama Ngono Couture")
    key = await shop.create_key(account, name="caisse")
    await shop.http.post(
        f"/v1/merchants/{account.merchant_id}/api_keys/{key['id']}/revoke",
        headers=account.user_headers,
    )
    for size, locale, name in ((PHONE, "fr-CM", "audit-fr-360"), (LAPTOP, "en", "audit-en-1280")):
        context = await chromium.new_context(viewport=size, locale="fr-CM")
        try:
            page = await context.new_page()
            await sign_in(page, stack, account.email)
            if locale == "en":
                await context.add_cookies([{"name": "mboa_lang", "value": "en", "url": stack.url}])
            await page.goto(f"{stack.url}/dashboard/audit")
            heading = "Journal d'audit" if locale != "en" else "Audit log"
            await expect(page.locator("h1")).to_have_text(heading, timeout=WAIT)
            rows = page.locator("tbody tr")
            await expect(rows).to_have_count(4)  # two sign-up keys, one created, one revoked
            await expect(page.locator("tbody tr", has_text="Mboa Pay")).to_have_count(0)
            summary = page.locator("tbody tr details summary").first
            await summary.focus()
            await page.keyboard.press("Enter")
            await expect(page.locator("tbody tr details[open]")).to_have_count(1)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], width
            await shot(page, name)
        finally:
            await context.close()
