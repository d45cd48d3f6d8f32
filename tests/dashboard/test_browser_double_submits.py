"""Double submits in a real browser (Debian's Chromium through Playwright, the whole stack): the
payout confirmation's button turns off after the first click and a second submit of the form
is stopped; a double click sends one payout (docs/dashboard.md "Double submits")."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser, expect

from tests.checkout.conftest import Stack
from tests.dashboard.test_browser_developers import shot
from tests.dashboard.test_money import payouts_of
from tests.helpers import PASSWORD, Api
from tests.payouts.helpers import fund

WAIT = 20_000


async def test_the_confirm_button_turns_off_and_a_double_click_sends_one_payout(
    client: httpx.AsyncClient, shop: Api, stack: Stack, chromium: Browser
) -> None:
    account = await shop.signup()
    await fund(stack.state.db, account.merchant_id, 80_000)
    context = await chromium.new_context(viewport={"width": 360, "height": 740}, locale="fr-CM")
    try:
        page = await context.new_page()
        await page.goto(f"{stack.url}/dashboard")
        await page.fill("#email", account.email)
        await page.fill("#password", PASSWORD)
        await page.click("#signin")
        await expect(page.locator("h1")).to_have_text("Accueil", timeout=WAIT)
        await page.goto(f"{stack.url}/dashboard/payouts/new")
        await page.fill("#phone", "670 00 00 00")
        await page.fill("#amount", "6000")
        await page.click("#review-payout")
        await expect(page.locator("#confirm-amount")).to_have_text("6\u202f000\u00a0FCFA")

        # The button turns off after the first click (the submit itself held back here, so
        # the page stays to be looked at), and a second submit of the form is stopped.
        await page.locator("form[data-once]").evaluate(
            "form => form.addEventListener('submit', e => { window.submits = (window.submits"
            " || 0) + 1; if (!e.defaultPrevented) { window.sent = (window.sent || 0) + 1; }"
            " e.preventDefault(); })"
        )
        await page.click("#confirm-payout")
        await expect(page.locator("#confirm-payout")).to_be_disabled()
        await page.locator("form[data-once]").evaluate("form => form.requestSubmit()")
        assert await page.evaluate("[window.submits, window.sent]") == [2, 1]
        assert await payouts_of(client, account.secret_key) == []

        # The real thing: a double click sends one payout.
        await page.reload()  # the browser asks to post /payouts/confirm again: a new page
        await expect(page.locator("#confirm-payout")).to_be_enabled(timeout=WAIT)
        await page.dblclick("#confirm-payout")
        await expect(page.locator(".notice").first).to_contain_text("Retrait demandé", timeout=WAIT)
        payout_url = page.url
        assert "/dashboard/payouts/po_" in payout_url
        assert [p["amount"] for p in await payouts_of(client, account.secret_key)] == [6000]

    finally:
        await context.close()


async def test_a_key_roll_sent_again_by_a_reload_rolls_once(
    client: httpx.AsyncClient, shop: Api, stack: Stack, chromium: Browser
) -> None:
    """The roll's confirmation, its secret page, then a reload, which sends the same form again:
    the keys' list says the form had been sent (one roll). Screenshots of the confirmation and of
    that notice, French at 360 px and English at 1280 px."""
    for locale, viewport, suffix in (
        ("fr-CM", {"width": 360, "height": 740}, "fr-360"),
        ("en-GB", {"width": 1280, "height": 800}, "en-1280"),
    ):
        account = await shop.signup()
        listed = await client.get(
            f"/v1/merchants/{account.merchant_id}/api_keys", headers=account.user_headers
        )
        key_id = next(k["id"] for k in listed.json()["data"] if k["type"] == "secret")
        context = await chromium.new_context(viewport=viewport, locale=locale)
        try:
            page = await context.new_page()
            await page.goto(f"{stack.url}/dashboard/developers/api_keys/{key_id}/roll")
            await page.fill("#email", account.email)
            await page.fill("#password", PASSWORD)
            await page.click("#signin")
            await expect(page.locator("#confirm-roll")).to_be_visible(timeout=WAIT)
            await shot(page, f"developers-key-roll-{suffix}")
            await page.click("#confirm-roll")
            await expect(page.locator("#secret")).to_be_visible(timeout=WAIT)
            await page.reload()
            await expect(page.locator("#key-rolled")).to_be_visible(timeout=WAIT)
            await shot(page, f"developers-key-rolled-{suffix}")
            keys = await client.get(
                f"/v1/merchants/{account.merchant_id}/api_keys", headers=account.user_headers
            )
            assert len([k for k in keys.json()["data"] if k["type"] == "secret"]) == 2
        finally:
            await context.close()
