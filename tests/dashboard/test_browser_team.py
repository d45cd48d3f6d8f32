"""Team in a real browser (Debian's Chromium, Playwright) against the whole stack: the owner
invites a member, the invitee opens the link from the local mailbox (`/dashboard/dev/mail`),
signs up and lands on the dashboard as that merchant's member. Screenshots of the team and
settings pages (phone and laptop sizes) go to `.mboa/artifacts/dashboard/`."""

from __future__ import annotations

import uuid
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.checkout.conftest import Stack
from tests.helpers import PASSWORD, Api

ARTIFACTS = Path(__file__).resolve().parents[2] / ".mboa" / "artifacts" / "dashboard"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
WAIT = 20_000


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_an_invited_member_signs_up_from_the_mailbox_link(
    shop: Api, stack: Stack, chromium: Browser
) -> None:
    owner = await shop.signup(business="Tailleur Bonabéri")
    invitee = f"couturiere-{uuid.uuid4().hex[:10]}@example.cm"
    for viewport, size in ((PHONE, "360"), (LAPTOP, "1280")):
        context = await chromium.new_context(viewport=viewport, locale="fr-CM")
        try:
            page = await context.new_page()
            await page.goto(f"{stack.url}/dashboard/login")
            await page.fill("#email", owner.email)
            await page.fill("#password", PASSWORD)
            await page.click("#signin")
            await expect(page.locator("h1")).to_have_text("Accueil", timeout=WAIT)
            await page.click("nav.side >> text=Équipe")
            await expect(page.locator("h1")).to_have_text("Équipe")
            if size == "360":
                await page.fill("#invite-email", invitee)
                await page.select_option("#invite-role", "developer")
                await page.click("#send-invite")
                await expect(page.locator(".notice")).to_have_text("Invitation envoyée.")
                await expect(page.locator("table.invitations")).to_contain_text(invitee)
            # Both pages in both languages (the switch in the top bar, twice: back to French).
            for lang, settings_title, team_title in (
                ("fr", "Paramètres", "Équipe"),
                ("en", "Settings", "Team"),
            ):
                await page.goto(f"{stack.url}/dashboard/settings")
                await expect(page.locator("h1")).to_have_text(settings_title)
                await shot(page, f"settings-{lang}-{size}")
                await page.goto(f"{stack.url}/dashboard/team")
                await expect(page.locator("h1")).to_have_text(team_title)
                await shot(page, f"team-{lang}-{size}")
                await page.click("form.language button")
            await expect(page.locator("h1")).to_have_text("Équipe")
        finally:
            await context.close()

    # The invitee: a browser of their own, the link from the local mailbox.
    context = await chromium.new_context(viewport=PHONE, locale="fr-CM")
    try:
        page = await context.new_page()
        mail = page.locator(f"table.mailbox tr:has-text('{invitee}') a")
        for _ in range(100):  # the worker sends it within moments
            await page.goto(f"{stack.url}/dashboard/dev/mail?to={invitee}")
            if await mail.count():
                break
            await page.wait_for_timeout(200)
        await shot(page, "dev-mail-fr-360")
        await mail.first.click()
        await expect(page.locator("h1")).to_contain_text("Tailleur Bonabéri")
        await page.locator("a.mail-link").first.click()
        await expect(page.locator("h1")).to_have_text("Rejoindre Tailleur Bonabéri sur Mboa Pay")
        await page.fill("#name", "Awa Njoya")
        await page.fill("#password", "ndole-plantain-fourchette-91")
        await shot(page, "invitation-fr-360")
        await page.click("#signup-accept")
        await expect(page.locator("h1")).to_have_text("Accueil", timeout=WAIT)
        await expect(page.locator(".notice")).to_have_text("Bienvenue dans l'équipe !")
        await expect(page.locator(".account")).to_have_text("Tailleur Bonabéri")
        await page.click("nav.side >> text=Équipe")
        await expect(page.locator("table.team")).to_contain_text("Awa Njoya")
        await expect(page.locator("#send-invite")).to_have_count(0)  # a developer reads only
    finally:
        await context.close()
