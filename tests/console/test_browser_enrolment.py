"""A staff member with no merchant and no second factor, on a phone in a real browser (Debian's
Chromium): the sign-in to the console lands on the enrolment page, the key from the page gives
the code, the recovery codes are shown, and "open the console" opens it. Screenshots in
`.mboa/artifacts/console/` (enrolment-*.png)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pyotp
from playwright.async_api import Browser, expect

from tests.checkout.conftest import Stack
from tests.console.test_browser_kyc import PHONE, WAIT, shot
from tests.helpers import PASSWORD


async def test_enrolment_in_the_browser(
    stack: Stack, chromium: Browser, staff_member: Callable[..., Awaitable[str]]
) -> None:
    email = await staff_member("finance", with_two_factor=False)
    context = await chromium.new_context(viewport=PHONE, locale="fr-CM")
    try:
        page = await context.new_page()
        await page.goto(f"{stack.url}/dashboard/login?next=/console")
        await page.fill("#email", email)
        await page.fill("#password", PASSWORD)
        await page.click("#signin")
        await page.wait_for_url(f"{stack.url}/console/security", timeout=WAIT)
        await expect(page.locator("#two-factor-needed")).to_be_visible()
        await expect(page.locator("nav.side")).to_have_count(0)
        await page.click("#enable-two-factor")
        await expect(page.locator("img.qr")).to_be_visible(timeout=WAIT)
        await shot(page, "enrolment-phone")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width  # nothing wider than the phone
        secret = (await page.locator("#totp-secret").inner_text()).replace(" ", "")
        step = int(time.time()) // 30
        await page.fill("#confirm-code", pyotp.TOTP(secret).at((step - 1) * 30))
        await page.click("#confirm-two-factor")
        await expect(page.locator("#recovery-codes li")).to_have_count(10, timeout=WAIT)
        await shot(page, "enrolment-codes-phone")
        await page.click("#codes-saved")
        await page.wait_for_url(f"{stack.url}/console", timeout=WAIT)
        await expect(page.locator("nav.side")).to_be_visible()
        await shot(page, "enrolment-console-phone")
    finally:
        await context.close()
