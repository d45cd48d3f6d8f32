"""Staff management on a phone in a real browser (Debian's Chromium, French): a superadmin
grants a role to a merchant's user from `/console/staff`, sees them listed, then revokes them
through the confirmation page. Screenshots in `.mboa/artifacts/console/` (staff-*.png)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from playwright.async_api import Browser, expect

from mboa.providers import breaker_board
from tests.checkout.conftest import Stack
from tests.console.test_browser_kyc import PHONE, WAIT, shot, sign_in
from tests.helpers import Api


async def test_staff_management_in_the_browser(
    stack: Stack, shop: Api, chromium: Browser, staff_member: Callable[..., Awaitable[str]]
) -> None:
    admin = await staff_member("superadmin")
    account = await shop.signup(business="Futur support")
    context = await chromium.new_context(viewport=PHONE, locale="fr-CM")
    try:
        page = await context.new_page()
        await sign_in(page, stack, admin, "/console/staff")
        await expect(page.locator("h1")).to_have_text("Équipe")
        await page.fill("#grant-email", account.email)
        await page.select_option("#grant-role", "support")
        await page.click("#grant")
        row = page.locator(f"#staff-{account.user_id}")
        await expect(row).to_have_attribute("data-role", "support", timeout=WAIT)
        await expect(page.locator(".notice")).to_be_visible()
        await expect(row).to_contain_text("Désactivée")  # no second factor yet
        await shot(page, "staff-phone")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width  # the table scrolls inside its frame
        await row.get_by_role("link").click()
        await page.wait_for_url(f"**/console/staff/{account.user_id}/revoke", timeout=WAIT)
        await shot(page, "staff-revoke-phone")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        await page.click("#confirm-revoke")
        await page.wait_for_url(f"{stack.url}/console/staff", timeout=WAIT)
        await expect(page.locator(".notice")).to_be_visible()
        await expect(row).to_have_count(0)
    finally:
        await context.close()


async def test_the_operators_page_in_the_browser(
    stack: Stack, chromium: Browser, staff_member: Callable[..., Awaitable[str]]
) -> None:
    """The operators' health with the breakers the stack's worker reports (all closed here):
    French on a phone, English on a laptop (`console/providers-*.png`)."""
    # Earlier tests' adapters in this process may have tripped breakers (an operator down
    # through magic numbers): the page should show what the worker reports from now on.
    breaker_board.forget()
    support = await staff_member("support")
    for locale, viewport, suffix in (
        ("fr-CM", PHONE, "phone"),
        ("en-GB", {"width": 1280, "height": 800}, "laptop-en"),
    ):
        context = await chromium.new_context(viewport=viewport, locale=locale)
        try:
            page = await context.new_page()
            await sign_in(page, stack, support, "/console/providers")
            cell = page.locator('tr[data-provider="mtn_momo"] td.breaker')
            for _ in range(20):  # the worker reports every 5 s
                if await cell.get_attribute("data-state") == "closed":
                    break
                await page.wait_for_timeout(500)
                await page.reload()
            await expect(cell).to_have_attribute("data-state", "closed")
            await shot(page, f"providers-{suffix}")
            if viewport is PHONE:
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], width  # the table scrolls inside its frame
        finally:
            await context.close()
