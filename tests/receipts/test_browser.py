"""The logo and the receipt link in a real browser (Debian's Chromium, Playwright) at 360 x 740:
the payment page with a logo still fits the 2G budget and loads nothing from elsewhere, and the
success page's link downloads the PDF. Screenshots in `.mboa/artifacts/receipts/`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import expect

from tests.checkout.conftest import Stack, create_session
from tests.checkout.test_browser import PAGE_BUDGET, WAIT, browser, visit
from tests.checkout.test_browser import shot as checkout_shot
from tests.dashboard.conftest import pay
from tests.dashboard.test_browser import sign_in
from tests.dashboard.test_pages import succeeded
from tests.helpers import Api
from tests.storage.conftest import image_bytes

__all__ = ["browser", "visit"]


async def test_logo_on_the_page_and_the_receipt_from_the_success_page(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any, tmp_path: Any
) -> None:
    owner = await shop.signup(business="Mama Ngono Couture")
    uploaded = await client.post(
        f"/v1/merchants/{owner.merchant_id}/logo",
        files={"file": ("logo.jpg", image_bytes("JPEG", (900, 300)), "image/jpeg")},
        headers=owner.user_headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    for locale, received, download in (
        ("fr", "Paiement reçu", "Télécharger le reçu (PDF)"),
        ("en", "Payment received", "Download the receipt (PDF)"),
    ):
        created = await create_session(client, owner.secret_key, description="2 pagnes wax")
        recorder, page = await visit(
            extra_http_headers={"accept-language": locale}, accept_downloads=True
        )
        await page.goto(created["url"])
        logo = page.locator("img.logo")
        await expect(logo).to_be_visible()
        assert await logo.evaluate("image => image.naturalWidth") == 256
        box = await logo.bounding_box()
        assert box is not None
        assert box["height"] == 48
        await checkout_shot(page, f"../receipts/logo-form-{locale}")
        origins = {urlsplit(r.url).netloc for r in recorder.requests}
        assert origins == {urlsplit(stack.url).netloc}, origins
        first_load = await recorder.bytes_loaded()
        assert first_load <= PAGE_BUDGET, first_load

        await page.fill("#phone", "670000000")
        await page.click("#pay-button")
        await expect(page.locator("#status-line")).to_have_text(received, timeout=WAIT)
        link = page.locator("#receipt-link")
        await expect(link).to_have_text(download)
        await checkout_shot(page, f"../receipts/success-{locale}")
        async with page.expect_download() as waiting:
            await link.click()
        downloaded = await waiting.value
        assert downloaded.suggested_filename.startswith("receipt-pi_")
        assert downloaded.suggested_filename.endswith(f"-{locale}.pdf")
        path = tmp_path / downloaded.suggested_filename
        await downloaded.save_as(path)
        assert path.read_bytes().startswith(b"%PDF-")


async def test_dashboard_payment_page_links_both_receipts(
    client: httpx.AsyncClient, shop: Api, stack: Stack, visit: Any
) -> None:
    owner = await shop.signup(business="Chez Tantine")
    intent = await pay(client, owner.secret_key, reference="pagne-6735")
    await succeeded(client, owner.secret_key, intent["id"])
    _, page = await visit(locale="fr-CM", extra_http_headers={"accept-language": "fr"})
    await sign_in(page, stack, owner.email)
    await page.goto(f"{stack.url}/dashboard/payments/{intent['id']}")
    await expect(page.locator("#receipt-fr")).to_have_text("en français")
    await expect(page.locator("#receipt-en")).to_have_text("en anglais")
    await checkout_shot(page, "../receipts/dashboard-payment-fr-360")
    response = await page.request.get(
        f"{stack.url}/dashboard/payments/{intent['id']}/receipt?locale=en"
    )
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert (await response.body()).startswith(b"%PDF-")
