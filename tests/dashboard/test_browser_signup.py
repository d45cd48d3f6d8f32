"""Sign-up and two-factor sign-in in a real browser (Debian's Chromium driven by Playwright,
against the real API): sign up, turn two-factor sign-in on from the Security page (the code
computed from the key the page shows), sign out, sign in with the password and a code, land on
home; then, on a laptop in English, the second step with a recovery code. Screenshots of the
sign-up, security and second-step pages (phone and laptop) go to `.mboa/artifacts/dashboard/`."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pyotp
from playwright.async_api import Browser, Page, expect

from tests.checkout.conftest import Stack

ARTIFACTS = Path(__file__).resolve().parents[2] / ".mboa" / "artifacts" / "dashboard"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
WAIT = 20_000
PASSWORD = "mango-plantain-harbour-71"


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_sign_up_turn_on_two_factor_and_sign_in_with_a_code(
    client: httpx.AsyncClient, stack: Stack, chromium: Browser
) -> None:
    email = "awa.browser@example.cm"
    phone = await chromium.new_context(viewport=PHONE, locale="fr-CM")
    try:
        page = await phone.new_page()
        await page.goto(f"{stack.url}/dashboard/login")
        await page.click("#to-signup")
        await expect(page.locator("h1")).to_have_text("Créez votre compte Mboa Pay")
        await shot(page, "signup-fr-360")
        await page.fill("#name", "Awa Fotso")
        await page.fill("#email", email)
        await page.fill("#password", PASSWORD)
        await page.fill("#business_name", "Awa Pagnes")
        await page.click("#signup")
        await expect(page.locator("h1")).to_have_text("Accueil", timeout=WAIT)
        await expect(page.locator(".testband")).to_be_visible()
        await expect(page.locator(".top .account")).to_have_text("Awa Pagnes")

        await page.click("nav.side a[href='/dashboard/security']")
        await expect(page.locator("#two-factor-state")).to_have_text("2FA désactivée")
        await page.click("#enable-two-factor")
        secret_text = page.locator("#totp-secret")
        await expect(secret_text).to_be_visible()
        await expect(page.locator("img.qr")).to_be_visible()
        await shot(page, "security-setup-fr-360")
        secret = (await secret_text.inner_text()).replace(" ", "")
        totp = pyotp.TOTP(secret)
        await page.fill("#confirm-code", totp.now())
        await page.click("#confirm-two-factor")
        codes = page.locator("#recovery-codes li")
        await expect(codes).to_have_count(10)
        recovery = (await codes.first.inner_text()).strip()
        await shot(page, "recovery-codes-fr-360")
        await page.click("#codes-saved")
        await expect(page.locator("#two-factor-state")).to_have_text("2FA activée")
        await shot(page, "security-on-fr-360")

        await page.click(".signout button")
        await expect(page.locator("#signin")).to_be_visible()
        await page.fill("#email", email)
        await page.fill("#password", PASSWORD)
        await page.click("#signin")
        await expect(page.locator("h1")).to_have_text("Saisissez votre code de connexion")
        await shot(page, "two-factor-fr-360")
        # The next step's code (the current one confirmed the set-up and is spent).
        await page.fill("#code", totp.at(time.time() + 30))
        await page.click("#verify")
        await expect(page.locator("h1")).to_have_text("Accueil", timeout=WAIT)
    finally:
        await phone.close()

    laptop = await chromium.new_context(viewport=LAPTOP, locale="en-GB")
    try:
        page = await laptop.new_page()
        await page.goto(f"{stack.url}/dashboard/signup")
        await expect(page.locator("h1")).to_have_text("Create your Mboa Pay account")
        await shot(page, "signup-en-1280")
        await page.click("#to-login")
        await page.fill("#email", email)
        await page.fill("#password", PASSWORD)
        await page.click("#signin")
        await expect(page.locator("h1")).to_have_text("Enter your sign-in code")
        await page.fill("#code", "000000" if totp.now() != "000000" else "999999")
        await page.click("#verify")
        await expect(page.locator(".alert")).to_contain_text("This code is not right")
        await shot(page, "two-factor-en-1280")
        await page.fill("#code", recovery)
        await page.click("#verify")
        await expect(page.locator("h1")).to_have_text("Home", timeout=WAIT)
        await page.goto(f"{stack.url}/dashboard/security")
        await expect(page.locator("#codes-left")).to_have_text("Unused recovery codes: 9")
        await shot(page, "security-en-1280")
    finally:
        await laptop.close()
