"""Payment links through the API: validation, update, their page, QR codes, their payments."""

from __future__ import annotations

import re

import asyncpg
import httpx

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
