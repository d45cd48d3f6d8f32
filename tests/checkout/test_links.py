"""Payment links through the API: validation, update, their page, QR codes, their payments."""

from __future__ import annotations

import asyncio
import html
import io
import re

import asyncpg
import httpx
import segno
from PIL import Image

from tests.checkout.conftest import Stack
from tests.helpers import Api, assert_error


async def test_create_update_page_and_qr(
    client: httpx.AsyncClient, shop: Api, stack: Stack, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup(business="Poulet DG Express")
    headers = account.key_headers
    for body, param in (
        ({"currency": "XAF"}, "amount"),
        (
            {"currency": "XAF", "amount": 500, "custom_amount": {"minimum": 1, "maximum": 2}},
            "amount",
        ),
        ({"currency": "XAF", "amount": 50}, "amount"),
        (
            {"currency": "XAF", "custom_amount": {"minimum": 900, "maximum": 800}},
            "custom_amount[minimum]",
        ),
        ({"currency": "EUR", "amount": 500}, "currency"),
        (
            {
                "currency": "XAF",
                "amount": 500,
                "after_completion": {"type": "redirect", "redirect": {"url": "nope"}},
            },
            "after_completion[redirect][url]",
        ),
    ):
        response = await client.post("/v1/payment_links", json=body, headers=headers)
        assert_error(response, 400, param=param)
    assert await owner_connection.fetchval("SELECT count(*) FROM payment_links") == 0

    response = await client.post(
        "/v1/payment_links",
        json={"currency": "XAF", "amount": 5000, "description": "Poulet DG"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    link = response.json()
    assert link["url"] == f"{stack.url}/l/{link['id']}"
    assert link["after_completion"] == {
        "type": "hosted_confirmation",
        "redirect": None,
        "hosted_confirmation": {"custom_message": None},
    }
    svg = await client.get(f"/v1/payment_links/{link['id']}/qr.svg", headers=headers)
    assert svg.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    png = await client.get(f"/v1/payment_links/{link['id']}/qr.png", headers=headers)
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    other = await shop.signup()
    assert_error(
        await client.get(f"/v1/payment_links/{link['id']}/qr.png", headers=other.key_headers),
        404,
    )

    async with httpx.AsyncClient(base_url=stack.url) as browser:
        page = await browser.get(f"/l/{link['id']}?fbclid=whatsapp")
        assert page.status_code == 200
        assert "Poulet DG Express" in page.text
        assert "5\u202f000\u00a0FCFA" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        opened = await browser.post(f"/l/{link['id']}", data={"csrf": csrf.group(1)})
        assert opened.status_code == 303
        assert opened.headers["location"].startswith("/pay/cs_")

        updated = await client.patch(
            f"/v1/payment_links/{link['id']}", json={"active": False}, headers=headers
        )
        assert updated.json()["active"] is False
        closed = await browser.get(f"/l/{link['id']}")
        assert "plus actif" in closed.text
        refused = await browser.post(f"/l/{link['id']}", data={"csrf": csrf.group(1)})
        assert refused.headers["location"] == f"/l/{link['id']}"
    assert await owner_connection.fetchval("SELECT count(*) FROM checkout_sessions") == 1
    listed = await client.get("/v1/payment_links", params={"active": "false"}, headers=headers)
    assert [item["id"] for item in listed.json()["data"]] == [link["id"]]


def _modules(png: bytes) -> list[list[int]]:
    """The QR code's modules read back from the PNG's pixels (dark = 1): the top-left finder
    pattern's first row gives the module size and the quiet zone, then each module's centre
    pixel is sampled. Read from the image, not from how it was made."""
    image = Image.open(io.BytesIO(png)).convert("L")
    width, height = image.size
    assert width == height
    pixels = image.load()
    assert pixels is not None
    row = next(y for y in range(height) if any(pixels[x, y] < 128 for x in range(width)))
    left = next(x for x in range(width) if pixels[x, row] < 128)
    run = next(x for x in range(left, width) if pixels[x, row] >= 128) - left
    size = run // 7  # a finder pattern is 7 modules wide
    count = (width - 2 * left) // size
    return [
        [
            int(pixels[left + c * size + size // 2, row + r * size + size // 2] < 128)
            for c in range(count)
        ]
        for r in range(count)
    ]


async def test_qr_codes_hold_the_links_url(
    client: httpx.AsyncClient, shop: Api, stack: Stack
) -> None:
    """No QR decoder on PyPI reads images without system libraries (zbar, OpenCV); the PNG's
    modules are read back here and compared with the modules of the link's URL, and the SVG with
    segno's own encoding of it."""
    account = await shop.signup()
    response = await client.post(
        "/v1/payment_links", json={"currency": "XAF", "amount": 2000}, headers=account.key_headers
    )
    link = response.json()
    expected = segno.make(link["url"], error="m")
    png = await client.get(f"/v1/payment_links/{link['id']}/qr.png", headers=account.key_headers)
    assert _modules(png.content) == [list(row) for row in expected.matrix]
    # Not any QR code: another link's URL has other modules.
    other = segno.make(link["url"][:-1] + "X", error="m")
    assert _modules(png.content) != [list(row) for row in other.matrix]
    svg = await client.get(f"/v1/payment_links/{link['id']}/qr.svg", headers=account.key_headers)
    out = io.BytesIO()
    expected.save(out, kind="svg", scale=8, border=4)
    assert svg.content == out.getvalue()


async def test_note_collected_and_after_completion_redirect_followed(
    client: httpx.AsyncClient, shop: Api, stack: Stack
) -> None:
    account = await shop.signup(business="Atelier Bali")
    response = await client.post(
        "/v1/payment_links",
        json={
            "currency": "XAF",
            "amount": 3000,
            "fields": ["name", "note"],
            "after_completion": {
                "type": "redirect",
                "redirect": {"url": f"{stack.url}/healthz?from=link"},
            },
        },
        headers=account.key_headers,
    )
    assert response.status_code == 200, response.text
    link = response.json()
    async with httpx.AsyncClient(
        base_url=stack.url, timeout=30, headers={"accept-language": "fr"}
    ) as browser:
        page = await browser.get(link["url"])
        assert 'id="note"' in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        opened = await browser.post(
            link["url"],
            data={"csrf": csrf.group(1), "name": "Ekane", "note": "Taille M, couleur bleue"},
        )
        assert opened.status_code == 303, opened.text
        pay = opened.headers["location"]
        form = await browser.get(pay)
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token
        sent = await browser.post(pay, data={"csrf": token.group(1), "phone": "670000000"})
        assert sent.status_code == 303
        for _ in range(300):
            done = await browser.get(pay)
            if "Paiement reçu" in done.text:
                break
            await asyncio.sleep(0.05)
        # The receipt, then the merchant's page with the session's id (a meta refresh without
        # JavaScript, the same URL behind "return now").
        refresh = re.search(r'<meta http-equiv="refresh" content="5;url=([^"]+)">', done.text)
        assert refresh, done.text
        target = html.unescape(refresh.group(1))
        assert re.fullmatch(
            re.escape(f"{stack.url}/healthz?from=link&session_id=") + "cs_.+", target
        )
        landed = await browser.get(target)
        assert landed.status_code == 200
    sessions = (
        await client.get(
            "/v1/checkout/sessions",
            params={"payment_link": link["id"]},
            headers=account.key_headers,
        )
    ).json()["data"]
    assert [s["customer_details"] for s in sessions] == [
        {"name": "Ekane", "note": "Taille M, couleur bleue"}
    ]
    assert target.endswith(sessions[0]["id"])
    assert sessions[0]["status"] == "complete"
