"""PDF receipts (docs/payments.md, "Receipts"): the API's `GET /v1/payment_intents/{id}/receipt`,
the dashboard's link, the payer's link on the success page; the PDF's text read back with a
PDF text extractor (pypdf) in both languages; other merchants' receipts are 404s."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from pypdf import PdfReader

from mboa.checkout.receipt import ReceiptFacts, render_receipt
from mboa.web.formatting import local_time
from tests.checkout.conftest import Stack, create_session
from tests.dashboard.conftest import csrf_of, pay
from tests.dashboard.test_pages import succeeded
from tests.helpers import Api, assert_error, bearer
from tests.storage.conftest import image_bytes


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # French amounts use a narrow no-break space and a no-break space, and a long label may
    # wrap: compare with every run of white space as one space.
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


async def paid_intent(
    client: httpx.AsyncClient, key: str, **body: Any
) -> tuple[dict[str, Any], str]:
    intent = await pay(client, key, **body)
    done = await succeeded(client, key, intent["id"])
    transaction = done["latest_attempt"]["operator_transaction_id"]
    assert transaction
    return done, transaction


async def test_receipt_states_the_payment_in_french_and_english(
    client: httpx.AsyncClient, shop: Api, stack: Stack, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup(business="Boulangerie Étoile")
    intent, transaction = await paid_intent(
        client, account.secret_key, reference="CMD-2041", description="Pain et gâteaux"
    )
    succeeded_at = await owner_connection.fetchval(
        "SELECT succeeded_at FROM payment_intents WHERE id = $1", intent["id"]
    )
    french = await client.get(
        f"/v1/payment_intents/{intent['id']}/receipt",
        params={"locale": "fr"},
        headers=account.key_headers,
    )
    assert french.status_code == 200, french.text
    assert french.headers["content-type"] == "application/pdf"
    assert f"receipt-{intent['id']}-fr.pdf" in french.headers["content-disposition"]
    text = pdf_text(french.content)
    for expected in (
        "Boulangerie Étoile",
        "Reçu de paiement",
        "Paiement reçu",
        "12 500 FCFA",
        intent["id"],
        transaction,
        "CMD-2041",
        "Pain et gâteaux",
        "MTN MoMo",
        "N° de transaction de l'opérateur",
        local_time(succeeded_at, "fr", "d MMMM y, HH:mm").replace("\u202f", " "),
        "(WAT)",
        "Mode test",
    ):
        assert expected in text, (expected, text)
    # The payer's number is masked: never the whole of it.
    assert "670000000" not in text.replace(" ", "")
    assert re.search(r"\*{3,}", text), text

    english = await client.get(
        f"/v1/payment_intents/{intent['id']}/receipt",
        params={"locale": "en"},
        headers=account.key_headers,
    )
    text = pdf_text(english.content)
    for expected in (
        "Payment receipt",
        "Payment received",
        "12,500 FCFA",
        "Operator transaction ID",
        local_time(succeeded_at, "en", "d MMMM y, HH:mm").replace("\u202f", " "),
        transaction,
    ):
        assert expected in text, (expected, text)
    assert "Reçu" not in text
    # Without `locale`: French (no checkout session chose a language), the stored receipt.
    default = await client.get(
        f"/v1/payment_intents/{intent['id']}/receipt", headers=account.key_headers
    )
    assert default.content == french.content  # built once, then served from storage
    for locale in ("fr", "en"):
        key = f"merchants/{account.merchant_id}/receipts/{intent['id']}-{locale}.pdf"
        assert await stack.state.storage.exists(key)


async def test_receipt_has_the_merchants_logo(client: httpx.AsyncClient, shop: Api) -> None:
    account = await shop.signup(business="Logo SARL")
    uploaded = await client.post(
        f"/v1/merchants/{account.merchant_id}/logo",
        files={"file": ("logo.png", image_bytes("PNG", (400, 200)), "image/png")},
        headers=account.user_headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    intent, _ = await paid_intent(client, account.secret_key)
    response = await client.get(
        f"/v1/payment_intents/{intent['id']}/receipt", headers=account.key_headers
    )
    assert response.status_code == 200
    images = PdfReader(io.BytesIO(response.content)).pages[0].images
    assert len(images) == 1
    assert images[0].image is not None
    assert images[0].image.size == (256, 128)  # the stored logo, bounded to 256 px

    # Without a logo, no image.
    other = await shop.signup(business="Sans Logo")
    plain, _ = await paid_intent(client, other.secret_key)
    response = await client.get(
        f"/v1/payment_intents/{plain['id']}/receipt", headers=other.key_headers
    )
    assert len(PdfReader(io.BytesIO(response.content)).pages[0].images) == 0


async def test_no_receipt_before_success_and_none_for_other_merchants(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    alice = await shop.signup()
    bob = await shop.signup()
    waiting = await client.post(
        "/v1/payment_intents",
        json={"amount": 5000, "currency": "XAF"},
        headers=alice.key_headers,
    )
    response = await client.get(
        f"/v1/payment_intents/{waiting.json()['id']}/receipt", headers=alice.key_headers
    )
    assert_error(response, 409, code="receipt_unavailable")

    paid, _ = await paid_intent(client, alice.secret_key)
    for path in (
        f"/v1/payment_intents/{paid['id']}/receipt",
        "/v1/payment_intents/pi_nope/receipt",
    ):
        assert_error(await client.get(path, headers=bob.key_headers), 404, code="resource_missing")
    assert_error(
        await client.get(
            f"/v1/payment_intents/{paid['id']}/receipt",
            params={"locale": "de"},
            headers=alice.key_headers,
        ),
        400,
    )
    # A publishable key cannot read payments.
    assert_error(
        await client.get(
            f"/v1/payment_intents/{paid['id']}/receipt", headers=bearer(alice.publishable_key)
        ),
        403,
    )
    # Bob's dashboard: the same 404.
    browser = await browser_for(bob)
    other = await browser.get(f"/dashboard/payments/{paid['id']}/receipt")
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("text/html")


async def test_dashboard_payment_page_links_its_receipt(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    account = await shop.signup(business="Chez Tantine")
    analyst = await shop.add_member(account, "analyst")
    intent, transaction = await paid_intent(client, account.secret_key)
    browser = await browser_for(analyst)  # read-only members may fetch receipts too
    page = await browser.get(f"/dashboard/payments/{intent['id']}")
    assert page.status_code == 200
    assert f"/dashboard/payments/{intent['id']}/receipt?locale=fr" in page.text
    response = await browser.get(f"/dashboard/payments/{intent['id']}/receipt?locale=en")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "Payment receipt" in text
    assert transaction in text
    # A payment that has not succeeded shows no receipt link.
    waiting = await client.post(
        "/v1/payment_intents", json={"amount": 5000, "currency": "XAF"}, headers=account.key_headers
    )
    page = await browser.get(f"/dashboard/payments/{waiting.json()['id']}")
    assert "/receipt" not in page.text


async def test_payer_gets_the_receipt_from_the_success_page(
    client: httpx.AsyncClient, shop: Api, stack: Stack
) -> None:
    account = await shop.signup(business="Boutique Ndolo")
    created = await create_session(client, account.secret_key, locale="en")
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as browser:
        page = await browser.get(created["url"])
        # Before success there is no receipt.
        early = await browser.get(created["url"] + "/receipt")
        assert early.status_code == 409
        sent = await browser.post(
            created["url"], data={"csrf": csrf_of(page.text), "phone": "670000000"}
        )
        assert sent.status_code == 303
        for _ in range(200):
            status = (await browser.get(created["url"] + "/status")).json()
            if status["state"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        done = await browser.get(created["url"])
        assert 'id="receipt-link"' in done.text
        link = re.search(r'href="([^"]+/receipt\?lang=en)"', done.text)
        assert link, done.text
        redirect = await browser.get(link.group(1))
        assert redirect.status_code == 303
        signed = redirect.headers["location"]
        assert "/files/merchants/" in signed
        assert "signature=" in signed
        assert "expires=" in signed
        receipt = await browser.get(signed)
        assert receipt.status_code == 200
        assert receipt.headers["content-type"] == "application/pdf"
        assert "Payment receipt" in pdf_text(receipt.content)
        # The signed URL names one object: another key with the same signature is refused.
        parts = urlsplit(signed)
        forged = await browser.get(
            parts.path.replace(account.merchant_id, "acct_someoneelse") + "?" + parts.query
        )
        assert forged.status_code == 403
        # A wrong page URL is a 404, not a receipt.
        wrong = await browser.get(created["url"][:-4] + "AAAA/receipt")
        assert wrong.status_code == 404


def test_identifiers_stay_on_one_line_however_wide_their_letters() -> None:
    """A payer reads the ids out to support: one made of the widest letters must not wrap (it
    did: `pi_01M927Q7DW9DAWC8MWRBRG513W` came out as `…RBRG513 W`)."""
    widest = "pi_" + "W" * 26
    facts = ReceiptFacts(
        payment_intent_id=widest,
        merchant_name="Boulangerie Étoile",
        amount=12500,
        currency="XAF",
        succeeded_at=dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC),
        provider="mtn_momo",
        operator_transaction_id="MP" + "W" * 28,
        phone_masked="+237 6•• ••• •12",
        reference="CMD-2041",
        description="Pain et gâteaux",
        livemode=False,
    )
    for locale in ("fr", "en"):
        lines = [
            line
            for page in PdfReader(io.BytesIO(render_receipt(facts, locale))).pages
            for line in page.extract_text().splitlines()
        ]
        for identifier in (facts.payment_intent_id, facts.operator_transaction_id):
            assert any(identifier in line for line in lines), (locale, identifier, lines)
