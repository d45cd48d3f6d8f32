"""The logo on the dashboard's Settings page (docs/dashboard.md, "Settings"): upload (a
multipart form with its CSRF token), the current logo shown, removed; owners and admins only;
refused files come back as the page's message and store nothing."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import asyncpg
import httpx
from PIL import Image

from mboa.middlewares import UPLOAD_PATHS
from mboa.storage.backends import FilesystemStore
from tests.checkout.conftest import Stack, create_session
from tests.dashboard.conftest import Browser, csrf_of
from tests.helpers import Api

CURRENT = re.compile(r'<img src="(/files/merchants/[^"]+)" alt="[^"]*" id="current-logo">')


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


async def send_logo(
    browser: Browser, data: bytes, name: str = "logo.png", csrf: str | None = None
) -> httpx.Response:
    page = await browser.get("/dashboard/settings")
    assert page.status_code == 200, page.text
    return await browser.http.post(
        "/dashboard/settings/logo",
        data={"csrf": csrf or csrf_of(page.text)},
        files={"file": (name, data, "image/png")},
    )


async def shown(browser: Browser, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard/settings"
    return html.unescape((await browser.get(response.headers["location"])).text)


async def logo_key(owner_connection: asyncpg.Connection, merchant_id: str) -> str | None:
    key: str | None = await owner_connection.fetchval(
        "SELECT logo_key FROM merchants WHERE id = $1", merchant_id
    )
    return key


async def test_upload_show_on_the_payment_page_and_remove(
    stack: Stack, shop: Api, browser_for: Any, owner_connection: asyncpg.Connection
) -> None:
    assert any(p.match("/dashboard/settings/logo") for p in UPLOAD_PATHS)  # its body limit
    owner = await shop.signup(business="Maquis Logo")
    browser = await browser_for(owner)
    before = await browser.get("/dashboard/settings")
    assert 'id="no-logo"' in before.text
    assert 'enctype="multipart/form-data"' in before.text
    assert '<label for="logo-file">' in before.text
    assert 'id="remove-logo"' not in before.text

    page = await shown(browser, await send_logo(browser, small_png()))
    assert "Logo enregistré" in page
    found = CURRENT.search(page)
    assert found, page
    image = await browser.get(found.group(1))
    assert image.status_code == 200
    with Image.open(io.BytesIO(image.content)) as logo:
        assert logo.format == "WEBP"
        assert logo.size == (40, 20)
    key = await logo_key(owner_connection, owner.merchant_id)
    assert key is not None
    assert key in found.group(1)

    # A new checkout session's hosted page shows it.
    created = await create_session(shop.http, owner.secret_key)
    hosted = await shop.http.get(created["url"])
    assert hosted.status_code == 200
    on_page = re.search(r'<img class="logo" src="(/files/merchants/[^"]+)"', hosted.text)
    assert on_page is not None
    assert key in on_page.group(1)
    served = await shop.http.get(html.unescape(on_page.group(1)))
    assert served.content == image.content, served.text

    removed = await browser.post_form("/dashboard/settings", "/dashboard/settings/logo/remove")
    page = await shown(browser, removed)
    assert "Logo supprimé." in page
    assert 'id="no-logo"' in page
    assert await logo_key(owner_connection, owner.merchant_id) is None
    again = await shop.http.get((await create_session(shop.http, owner.secret_key))["url"])
    assert 'class="logo"' not in again.text


async def test_refused_files_are_the_pages_message_and_store_nothing(
    stack: Stack, shop: Api, browser_for: Any, owner_connection: asyncpg.Connection
) -> None:
    owner = await shop.signup()
    browser = await browser_for(owner)
    wrong = await shown(browser, await send_logo(browser, b"%PDF-1.4\n%%EOF\n", "logo.pdf"))
    assert "Envoyez une image PNG, JPEG ou WebP." in wrong
    assert 'role="alert"' in wrong
    too_big = b"\xff\xd8\xff\xe0" + b"\0" * (2 * 1024 * 1024 + 10)
    large = await shown(browser, await send_logo(browser, too_big))
    assert "Cette image est trop lourde (2 Mo au plus)." in large
    empty = await shown(browser, await send_logo(browser, b""))
    assert "Choisissez d'abord une image." in empty
    assert await logo_key(owner_connection, owner.merchant_id) is None
    stored = await owner_connection.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'merchant.logo_set'"
    )
    assert stored == 0
    store = stack.state.storage
    assert isinstance(store, FilesystemStore)
    assert not list((store.root / "merchants" / owner.merchant_id).rglob("*"))
    # Without the form's token: refused, nothing stored.
    forged = await shown(browser, await send_logo(browser, small_png(), csrf="forged"))
    assert "Cette page est restée ouverte trop longtemps" in forged
    assert await logo_key(owner_connection, owner.merchant_id) is None


async def test_analysts_and_developers_cannot_change_the_logo(
    shop: Api, browser_for: Any, owner_connection: asyncpg.Connection
) -> None:
    owner = await shop.signup(business="Roles Logo")
    admin = await browser_for(await shop.add_member(owner, "admin"))
    assert "Logo enregistré" in await shown(admin, await send_logo(admin, small_png()))
    key = await logo_key(owner_connection, owner.merchant_id)
    assert key is not None
    for role in ("analyst", "developer"):
        member = await browser_for(await shop.add_member(owner, role))
        page = await member.get("/dashboard/settings")
        assert CURRENT.search(page.text)  # they see it
        assert 'id="save-logo"' not in page.text
        assert 'id="remove-logo"' not in page.text
        refused = await send_logo(member, small_png())
        assert "Votre rôle ne le permet pas" in await shown(member, refused)
        removal = await member.http.post(
            "/dashboard/settings/logo/remove", data={"csrf": csrf_of(page.text)}
        )
        assert "Votre rôle ne le permet pas" in await shown(member, removal)
    assert await logo_key(owner_connection, owner.merchant_id) == key


async def test_another_merchants_logo_is_out_of_reach(
    shop: Api, browser_for: Any, owner_connection: asyncpg.Connection
) -> None:
    """The routes act on the signed-in member's own account only: an account cookie naming
    another merchant is ignored (the first membership is used)."""
    mine = await shop.signup(business="Mine")
    theirs = await shop.signup(business="Theirs")
    browser = await browser_for(mine)
    browser.http.cookies.set("mboa_account", theirs.merchant_id)
    assert "Logo enregistré" in await shown(browser, await send_logo(browser, small_png()))
    assert await logo_key(owner_connection, theirs.merchant_id) is None
    assert await logo_key(owner_connection, mine.merchant_id) is not None
