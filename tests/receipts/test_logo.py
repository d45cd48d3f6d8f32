"""The merchant's logo: `POST|DELETE /v1/merchants/{id}/logo` (owners and admins), the account's
`logo_url`, the logo on the payment page and the payment link's page (same origin, signed, a
few kilobytes: the page budget), and 4xx error objects for what is refused."""

from __future__ import annotations

import asyncio
import io
import re

import asyncpg
import httpx
from PIL import Image

from tests.checkout.conftest import Stack, create_session
from tests.helpers import Api, assert_error
from tests.storage.conftest import image_bytes


async def upload(
    client: httpx.AsyncClient, merchant_id: str, headers: dict[str, str], data: bytes
) -> httpx.Response:
    return await client.post(
        f"/v1/merchants/{merchant_id}/logo",
        files={"file": ("logo.jpg", data, "image/jpeg")},
        headers=headers,
    )


async def test_upload_show_replace_and_delete_a_logo(
    client: httpx.AsyncClient, shop: Api, stack: Stack, owner_connection: asyncpg.Connection
) -> None:
    owner = await shop.signup(business="Mama Ngono")
    response = await upload(
        client, owner.merchant_id, owner.user_headers, image_bytes("JPEG", (1024, 512), exif=True)
    )
    assert response.status_code == 200, response.text
    account = response.json()
    assert account["logo_url"].startswith(f"{stack.url}/files/merchants/{owner.merchant_id}/logo/")
    key = await owner_connection.fetchval(
        "SELECT logo_key FROM merchants WHERE id = $1", owner.merchant_id
    )
    assert key in account["logo_url"]
    served = await client.get(account["logo_url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert served.headers["cache-control"].startswith("private, max-age=")
    with Image.open(io.BytesIO(served.content)) as logo:
        assert logo.format == "WEBP"
        assert max(logo.size) == 256
        assert not logo.getexif()
    # The API key's account object shows it too.
    again = await client.get("/v1/account", headers=owner.key_headers)
    assert again.json()["logo_url"] == account["logo_url"]

    # Replacing it: a new key, and the old object goes once the change is committed.
    replaced = await upload(client, owner.merchant_id, owner.user_headers, image_bytes("PNG"))
    assert replaced.status_code == 200
    new_key = await owner_connection.fetchval(
        "SELECT logo_key FROM merchants WHERE id = $1", owner.merchant_id
    )
    assert new_key != key
    await _gone(stack, key)
    assert await stack.state.storage.exists(new_key)

    deleted = await client.delete(
        f"/v1/merchants/{owner.merchant_id}/logo", headers=owner.user_headers
    )
    assert deleted.status_code == 200
    assert deleted.json()["logo_url"] is None
    await _gone(stack, new_key)
    assert (await client.get(replaced.json()["logo_url"])).status_code == 404


async def _gone(stack: Stack, key: str) -> None:
    for _ in range(100):
        if not await stack.state.storage.exists(key):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{key} was not deleted")


async def test_refused_uploads_are_error_objects_and_change_nothing(
    client: httpx.AsyncClient, shop: Api, owner_connection: asyncpg.Connection
) -> None:
    owner = await shop.signup()
    too_big = b"\xff\xd8\xff\xe0" + b"\0" * (2 * 1024 * 1024 + 10)
    assert_error(
        await upload(client, owner.merchant_id, owner.user_headers, too_big),
        413,
        code="file_too_large",
        param="file",
    )
    for data in (b"%PDF-1.4\n%%EOF\n", b"GIF89a" + b"\0" * 40, b"<svg onload=alert(1)>"):
        assert_error(
            await upload(client, owner.merchant_id, owner.user_headers, data),
            400,
            code="file_type_not_allowed",
            param="file",
        )
    assert_error(
        await upload(client, owner.merchant_id, owner.user_headers, b"\x89PNG\r\n\x1a\nbroken"),
        400,
        code="file_invalid",
    )
    assert_error(
        await upload(client, owner.merchant_id, owner.user_headers, b""), 400, code="file_empty"
    )
    missing = await client.post(
        f"/v1/merchants/{owner.merchant_id}/logo",
        files={"other": ("x.png", image_bytes("PNG"), "image/png")},
        headers=owner.user_headers,
    )
    assert_error(missing, 400, param="file")
    as_json = await client.post(
        f"/v1/merchants/{owner.merchant_id}/logo", json={"file": "x"}, headers=owner.user_headers
    )
    assert_error(as_json, 415)
    assert (
        await owner_connection.fetchval(
            "SELECT logo_key FROM merchants WHERE id = $1", owner.merchant_id
        )
        is None
    )


async def test_only_owners_and_admins_of_this_merchant(
    client: httpx.AsyncClient, shop: Api, owner_connection: asyncpg.Connection
) -> None:
    owner = await shop.signup()
    admin = await shop.add_member(owner, "admin")
    developer = await shop.add_member(owner, "developer")
    stranger = await shop.signup()
    logo = image_bytes("PNG")
    assert (await upload(client, owner.merchant_id, admin.user_headers, logo)).status_code == 200
    for member in (developer,):
        assert_error(await upload(client, owner.merchant_id, member.user_headers, logo), 403)
        assert_error(
            await client.delete(
                f"/v1/merchants/{owner.merchant_id}/logo", headers=member.user_headers
            ),
            403,
        )
    # Another merchant's id: 404, as for an id that does not exist.
    assert_error(await upload(client, owner.merchant_id, stranger.user_headers, logo), 404)
    assert_error(
        await client.delete(
            f"/v1/merchants/{owner.merchant_id}/logo", headers=stranger.user_headers
        ),
        404,
    )
    # API keys do not manage the account's logo.
    assert_error(await upload(client, owner.merchant_id, owner.key_headers, logo), 401)
    assert await owner_connection.fetchval(
        "SELECT logo_key FROM merchants WHERE id = $1", owner.merchant_id
    )


async def test_payment_pages_show_the_logo_within_the_page_budget(
    client: httpx.AsyncClient, shop: Api, stack: Stack
) -> None:
    owner = await shop.signup(business="Poulet DG Express")
    created = await create_session(client, owner.secret_key)
    page = await client.get(created["url"])
    assert 'class="logo"' not in page.text
    assert (
        await upload(client, owner.merchant_id, owner.user_headers, image_bytes())
    ).status_code == 200

    link = (
        await client.post(
            "/v1/payment_links",
            json={"currency": "XAF", "amount": 5000, "description": "Poulet DG"},
            headers=owner.key_headers,
        )
    ).json()
    for url in (created["url"], link["url"]):
        page = await client.get(url)
        assert page.status_code == 200
        found = re.search(r'<img class="logo" src="(/files/merchants/[^"]+)"', page.text)
        assert found, page.text
        src = found.group(1).replace("&amp;", "&")
        assert "'self'" in page.headers["content-security-policy"]  # same origin: allowed
        logo = await client.get(src)
        assert logo.status_code == 200
        assert logo.headers["content-type"] == "image/webp"
        # The page budget (docs/checkout.md: 100 kB first load): the logo is a few kB.
        assert len(logo.content) < 20_000
    # Another merchant's page shows no logo of this one.
    other = await shop.signup()
    theirs = await create_session(client, other.secret_key)
    assert 'class="logo"' not in (await client.get(theirs["url"])).text
