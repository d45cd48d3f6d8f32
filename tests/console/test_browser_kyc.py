"""Going live in a real browser (Debian's Chromium, Playwright) against the whole stack: the
owner fills the profile, uploads the three documents and submits; staff reject with a reason;
the owner reads it, replaces a document and submits again; staff approve; the owner can now
create a live key. Screenshots (phone and laptop) of the Go live page and the console's list
and merchant pages go to `.mboa/artifacts/console/`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect

from tests.checkout.conftest import Stack
from tests.dashboard.conftest import TOTP_SECRETS, next_totp_code
from tests.helpers import PASSWORD, Api
from tests.kyc.documents import JPEG, PDF, PROFILE, png

ARTIFACTS = Path(__file__).resolve().parents[2] / ".mboa" / "artifacts" / "console"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
WAIT = 20_000


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def sign_in(page: Page, stack: Stack, email: str, target: str) -> None:
    await page.goto(f"{stack.url}{target}")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#signin")
    if email in TOTP_SECRETS:  # staff: the second step asks for a code
        await page.wait_for_url("**/dashboard/login/two-factor**", timeout=WAIT)
        await page.fill("#code", next_totp_code(email))
        await page.click("#verify")
    await page.wait_for_url(f"{stack.url}{target}", timeout=WAIT)


async def test_kyc_round_trip_in_the_browser(
    client: httpx.AsyncClient,
    shop: Api,
    stack: Stack,
    chromium: Browser,
    staff_member: Callable[[str], Awaitable[str]],
    tmp_path: Path,
) -> None:
    account = await shop.signup(business="Mama Ngono Couture")
    files = {
        "representative_id": tmp_path / "cni.jpg",
        "business_registration": tmp_path / "rccm.pdf",
        "proof_of_address": tmp_path / "facture-eneo.png",
    }
    files["representative_id"].write_bytes(JPEG)
    files["business_registration"].write_bytes(PDF)
    files["proof_of_address"].write_bytes(png(40, 30))
    owner_context = await chromium.new_context(viewport=PHONE, locale="fr-CM")
    staff_context = await chromium.new_context(viewport=LAPTOP, locale="fr-CM")
    try:
        owner = await owner_context.new_page()
        await sign_in(owner, stack, account.email, "/dashboard/activate")
        await expect(owner.locator("h1")).to_contain_text("Passer en production")
        await shot(owner, "activate-empty-phone")
        for name, value in PROFILE.items():
            if name == "settlement_operator":
                await owner.select_option("#settlement_operator", str(value))
            else:
                await owner.fill(f"#{name}", str(value))
        await owner.click("#save-profile")
        await expect(owner.locator(".notice")).to_have_text("Profil enregistré.", timeout=WAIT)
        for kind, path in files.items():
            await owner.set_input_files(f"#file-{kind}", str(path))
            await owner.click(f"#upload-{kind}")
            await expect(owner.locator(f"#have-{kind}")).to_be_visible(timeout=WAIT)
        await shot(owner, "activate-filled-phone")
        await owner.click("#submit-kyc")
        await expect(owner.locator("h1 .badge")).to_have_text("À examiner", timeout=WAIT)

        staff = await staff_context.new_page()
        await sign_in(staff, stack, await staff_member("compliance"), "/console/merchants")
        await expect(staff.locator("table.merchants")).to_contain_text("Mama Ngono Couture")
        await shot(staff, "console-merchants-laptop")
        await staff.click("text=Mama Ngono Couture")
        await expect(staff.locator("h1")).to_contain_text("Mama Ngono Couture")
        await expect(staff.locator("figure.document img")).to_have_count(2)
        await shot(staff, "console-merchant-laptop")
        await staff.select_option("#action", "reject")
        await staff.fill("#reason", "La facture ENEO date de plus de trois mois.")
        await staff.click("#decide")
        await expect(staff.locator(".notice")).to_contain_text("Refusé", timeout=WAIT)

        await owner.goto(f"{stack.url}/dashboard/activate")
        await expect(owner.locator("#rejection-reason")).to_have_text(
            "La facture ENEO date de plus de trois mois."
        )
        await shot(owner, "activate-rejected-phone")
        await owner.set_input_files("#file-proof_of_address", str(files["business_registration"]))
        await owner.click("#upload-proof_of_address")
        await expect(owner.locator(".notice")).to_have_text("Document reçu.", timeout=WAIT)
        await owner.click("#submit-kyc")
        await expect(owner.locator("h1 .badge")).to_have_text("À examiner", timeout=WAIT)

        await staff.reload()
        await staff.select_option("#action", "approve")
        await staff.fill("#reason", "Dossier complet et conforme.")
        await staff.click("#decide")
        await expect(staff.locator("h1 .badge")).to_have_text("Production", timeout=WAIT)
        await staff.set_viewport_size(PHONE)
        await shot(staff, "console-merchant-phone")
        await staff.goto(f"{stack.url}/console/merchants")
        await shot(staff, "console-merchants-phone")

        await owner.goto(f"{stack.url}/dashboard/activate")
        await expect(owner.locator("h1 .badge")).to_have_text("Production")
        await owner.set_viewport_size(LAPTOP)
        await shot(owner, "activate-live-laptop")
        # The same pages in English (the browser's language), at both sizes.
        english = await chromium.new_context(viewport=LAPTOP, locale="en-GB")
        try:
            page = await english.new_page()
            await sign_in(page, stack, await staff_member("support"), "/console/merchants")
            await expect(page.locator("h1")).to_have_text("Merchants")
            await shot(page, "console-merchants-laptop-en")
            await page.click("text=Mama Ngono Couture")
            await expect(page.locator("h1 .badge")).to_have_text("Live")
            await expect(page.locator("#decide")).to_have_count(0)  # support: no decision
            await page.set_viewport_size(PHONE)
            await shot(page, "console-merchant-phone-en")
        finally:
            await english.close()
    finally:
        await owner_context.close()
        await staff_context.close()
    # Live keys are now allowed.
    key = await shop.create_key(account, livemode=True)
    assert key["livemode"] is True
