"""The money pages in a real browser (Debian's Chromium through Playwright, the whole stack):
request a payout and see it in the list, export a CSV and read its rows; screenshots of the
payouts, balance, customers and reports pages at 360 px and 1280 px in
`.mboa/artifacts/dashboard/`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect

from tests.checkout.conftest import Stack
from tests.dashboard.conftest import pay
from tests.helpers import PASSWORD, Api
from tests.payouts.helpers import fund

ARTIFACTS = Path(__file__).resolve().parents[2] / ".mboa" / "artifacts" / "dashboard"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
WAIT = 20_000


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_request_a_payout_and_export_a_csv_in_the_browser(
    client: httpx.AsyncClient, shop: Api, stack: Stack, chromium: Browser, tmp_path: Path
) -> None:
    account = await shop.signup(business="Mama Ngono Couture")
    await fund(stack.state.db, account.merchant_id, 80_000)
    customer = await shop.create_customer(
        account.secret_key, name="Ada Nkemelu", email="ada@example.cm", phone="+237677112233"
    )
    intents = [
        await pay(client, account.secret_key, reference=f"pagne-{n}", customer=customer["id"])
        for n in range(2)
    ]
    context = await chromium.new_context(viewport=PHONE, locale="fr-CM", accept_downloads=True)
    try:
        page = await context.new_page()
        await page.goto(f"{stack.url}/dashboard")
        await page.fill("#email", account.email)
        await page.fill("#password", PASSWORD)
        await page.click("#signin")
        await expect(page.locator("h1")).to_have_text("Accueil", timeout=WAIT)

        await page.goto(f"{stack.url}/dashboard/payouts")
        await expect(page.locator("#empty")).to_be_visible()
        await page.click("#new-payout")
        await page.fill("#phone", "670 00 00 00")
        await page.fill("#amount", "7500")
        await page.fill("#description", "Retrait de la semaine")
        await shot(page, "payout-new-fr-360")
        await page.click("#review-payout")
        await expect(page.locator("#confirm-amount")).to_have_text("7\u202f500\u00a0FCFA")
        await expect(page.locator("#confirm-operator")).to_have_text("MTN MoMo")
        await shot(page, "payout-confirm-fr-360")
        await page.click("#confirm-payout")
        await expect(page.locator(".notice")).to_contain_text("Retrait demandé", timeout=WAIT)
        await page.click("text=← Retraits")
        row = page.locator("#payout-rows tr").first
        await expect(row.locator("td.num")).to_have_text("7\u202f500\u00a0FCFA")
        await shot(page, "payouts-fr-360")

        for path, name in (
            ("/dashboard/balance", "balance"),
            ("/dashboard/customers", "customers"),
            (f"/dashboard/customers/{customer['id']}", "customer"),
            ("/dashboard/payments", "payments"),
            ("/dashboard/reports", "reports"),
        ):
            await page.goto(f"{stack.url}{path}")
            await shot(page, f"{name}-fr-360")
        await page.set_viewport_size(LAPTOP)
        for path, name in (
            ("/dashboard/payouts", "payouts"),
            ("/dashboard/balance", "balance"),
            ("/dashboard/customers", "customers"),
            ("/dashboard/reports", "reports"),
        ):
            await page.goto(f"{stack.url}{path}")
            await shot(page, f"{name}-fr-1280")

        # The export: the row count first, then the download.
        await page.select_option("#kind", "payments")
        await page.click("#report-form button")
        await expect(page.locator("#row-count")).to_have_text("2 lignes à exporter.")
        await shot(page, "reports-count-fr-1280")
        async with page.expect_download() as waiting:
            await page.click("#download")
        download = await waiting.value
        assert download.suggested_filename.startswith("mboa-payments-")
        saved = tmp_path / "export.csv"
        await download.save_as(saved)
        rows = list(csv.DictReader(io.StringIO(saved.read_text())))
        assert [r["id"] for r in rows] == [i["id"] for i in intents]
        assert [r["reference"] for r in rows] == ["pagne-0", "pagne-1"]
        assert {r["customer"] for r in rows} == {customer["id"]}
    finally:
        await context.close()
