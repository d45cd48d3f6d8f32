"""Going live in a real browser (Debian's Chromium, Playwright) against the whole stack: the
owner fills the profile, uploads the three documents and submits; staff reject with a reason;
the owner reads it, replaces a document and submits again; staff approve. On the dashboard's
developers page the owner is refused a live key while the application waits, and once approved
creates one and sees its secret that one time. Screenshots (phone and laptop) of the Go live
page, the console's list and merchant pages and the live key pages go to
`.mboa/artifacts/console/`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect

from tests.checkout.conftest import Stack
from tests.dashboard.conftest import TOTP_SECRETS, next_totp_code
from tests.helpers import PASSWORD, Api, bearer
from tests.kyc.documents import JPEG, PDF, PROFILE, png

ARTIFACTS = Path(__file__).resolve().parents[2] / ".mboa" / "artifacts" / "console"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
WAIT = 20_000
KEYS = "/dashboard/developers/api_keys"


async def create_live_key(page: Page, stack: Stack) -> None:
    """On the API keys page, in live mode (the top bar's switch), ask for a secret key."""
    await page.goto(f"{stack.url}{KEYS}")
    if await page.locator("#mode.badge-live").count() == 0:
        await page.click("form.mode button[value=live]")
        await expect(page.locator("#mode.badge-live")).to_have_text("Production", timeout=WAIT)
    await page.fill("#key-name", "Boutique en ligne")
    await page.select_option("#key-type", "secret")
    await page.click("#create-key-button")


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
        # Under review: no live key yet, and the page says why.
        await create_live_key(owner, stack)
        await expect(owner.locator(".alert")).to_have_text(
            "Ce compte ne peut pas encore passer en production : il n'est pas validé.",
            timeout=WAIT,
        )
        await expect(owner.locator("#secret")).to_have_count(0)
        await expect(owner.locator("table.keys")).not_to_contain_text("sk_live_")
        await shot(owner, "live-key-refused-phone")

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
        await shot(owner, "activate-live-phone")
        # Approved: the live key is created, its secret shown this once.
        await create_live_key(owner, stack)
        await expect(owner.locator("h1")).to_have_text("Copiez votre nouvelle clé maintenant")
        secret = await owner.locator("#secret").input_value()
        assert secret.startswith("sk_live_"), secret
        await shot(owner, "live-key-shown-phone")
        await owner.click("#done")
        await owner.wait_for_url(f"{stack.url}{KEYS}", timeout=WAIT)
        await expect(owner.locator("table.keys")).to_contain_text(secret[-4:])
        assert secret not in await owner.content()  # never shown again
        await owner.set_viewport_size(LAPTOP)
        await shot(owner, "live-keys-laptop")
        assert (await client.get("/v1/account", headers=bearer(secret))).status_code == 200
        await owner.goto(f"{stack.url}/dashboard/activate")
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
