"""The public pages' GETs: one statement each (docs/benchmarks.md, "Checkout"), through definer
functions that return the one row a URL names and nothing of any other merchant's
(docs/checkout.md, "Who may read what"). Round trips are counted as in
tests/payments/test_round_trips.py: SQLAlchemy's statements on every engine, and each bare
asyncpg call (one prepared statement is one round trip once the connection has it cached)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from mboa.checkout import csrf
from mboa.checkout.service import split_token
from mboa.config import Settings
from mboa.postgres import TenantContext, plain_url, role_urls
from tests.checkout.conftest import create_session
from tests.helpers import Api, bearer
from tests.payments.test_round_trips import bare_statements, orm_statements

PAGE_READ = "SELECT * FROM mboa_checkout_page($1, $2)"
LINK_READ = "SELECT * FROM mboa_payment_link_page($1)"


def _path(url: str) -> str:
    return urlsplit(url).path


def _parts(url: str) -> tuple[str, str]:
    parts = split_token(_path(url).removeprefix("/pay/"))
    assert parts is not None, url
    return parts


async def _counted(
    http: httpx.AsyncClient, path: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[httpx.Response, list[str], list[str]]:
    for _ in range(2):  # warm the read pool's connection and its statement cache
        assert (await http.get(path)).status_code == 200
    # The hooks see every statement of the process, and the package's stack runs a worker in
    # it (its sampler and outbox relay read the database every few seconds): a window may
    # catch one of theirs. The page's own count is the least of three windows; a page that
    # needs more statements shows them in every window.
    counted = []
    for _ in range(3):
        with orm_statements() as orm, bare_statements(monkeypatch) as bare:
            response = await http.get(path)
        counted.append((len(orm) + len(bare), response, orm, bare))
    _, response, orm, bare = min(counted, key=lambda window: window[0])
    return response, orm, bare


async def test_payment_page_is_one_statement(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    account = await api.signup(business="Mama Ngono Couture")
    created = await create_session(api.http, account.secret_key, description="2 pagnes wax")
    page = _path(created["url"])
    response, orm, bare = await _counted(api.http, page, monkeypatch)
    assert response.status_code == 200, response.text
    assert "Mama Ngono Couture" in response.text
    assert 'name="csrf"' in response.text
    # 5 round trips before 2026-12-04's eighth session (BEGIN, the tenant's definer function,
    # set_config, the four-table SELECT through the ORM, COMMIT); now the page's function alone.
    assert orm == [], orm
    assert bare == [PAGE_READ], bare

    response, orm, bare = await _counted(api.http, page + "/status", monkeypatch)
    assert response.json() == {
        "state": "form",
        "attempt": None,
        "error": None,
        "redirect_url": None,
    }
    assert orm == [], orm
    assert bare == [PAGE_READ], bare


async def test_payment_link_page_is_one_statement(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await api.signup(business="Chez Tantine")
    link = await api.http.post(
        "/v1/payment_links",
        json={"currency": "XAF", "amount": 5000, "description": "Poulet DG"},
        headers=bearer(account.secret_key),
    )
    assert link.status_code == 200, link.text
    response, orm, bare = await _counted(api.http, _path(link.json()["url"]), monkeypatch)
    assert response.status_code == 200, response.text
    assert "Chez Tantine" in response.text
    assert "Poulet DG" in response.text
    assert orm == [], orm
    assert bare == [LINK_READ], bare


async def _as_api_role(settings: Settings, database_url: str) -> asyncpg.Connection:
    app_url, _ = role_urls(settings, database_url)
    return await asyncpg.connect(plain_url(app_url))


async def test_the_functions_return_only_what_the_url_names(
    api: Api,
    settings: Settings,
    database_url: str,
    owner_connection: asyncpg.Connection,
) -> None:
    mine = await api.signup(business="Mine")
    theirs = await api.signup(business="Theirs")
    created = await create_session(api.http, mine.secret_key)
    session_id, secret = _parts(created["url"])
    other = await create_session(api.http, theirs.secret_key)
    other_id, other_secret = _parts(other["url"])
    connection = await _as_api_role(settings, database_url)
    try:
        row = await connection.fetchrow(PAGE_READ, session_id, secret)
        assert row is not None
        assert (row["id"], row["merchant_name"]) == (session_id, "Mine")
        # What the page needs, no secret and no operator reference among it.
        assert not {"url_secret", "operator_reference", "merchant_id"} & set(row.keys())
        # A wrong secret, another session's secret, a truncated or empty one: nothing.
        for wrong in (
            secret[:-1] + ("A" if secret[-1] != "A" else "B"),
            other_secret,
            "",
            secret[:8],
        ):
            assert await connection.fetchrow(PAGE_READ, session_id, wrong) is None, wrong
        assert await connection.fetchrow(PAGE_READ, other_id, secret) is None
        # The connection itself, with no tenant, sees no merchant's row (row-level security).
        assert await connection.fetchval("SELECT count(*) FROM checkout_sessions") == 0
        assert await connection.fetchval("SELECT count(*) FROM merchants") == 0

        # A session pointed at another merchant's intent (no foreign key says the merchants
        # agree): the function joins on the session's own merchant and mode, so nothing.
        intent = await api.http.post(
            "/v1/payment_intents",
            json={"amount": 700, "currency": "XAF"},
            headers={**bearer(theirs.secret_key), "Idempotency-Key": "theirs-1"},
        )
        assert intent.status_code == 200, intent.text
        await owner_connection.execute(
            "UPDATE checkout_sessions SET payment_intent_id = $1 WHERE id = $2",
            intent.json()["id"],
            session_id,
        )
        assert await connection.fetchrow(PAGE_READ, session_id, secret) is None
        page = await api.http.get(_path(created["url"]))
        assert page.status_code == 404
        assert "Theirs" not in page.text
    finally:
        await connection.close()


async def test_public_reads_see_no_tenant(api: Api) -> None:
    """The public pages' connection has no tenant: a statement other than the functions reads
    nothing, whichever connection of the pool it gets (one used by a tenant's reads before)."""
    account = await api.signup()
    await create_session(api.http, account.secret_key)
    db = api.state.db
    # A tenant's read transaction first, so the pool hands back a connection that had a tenant.
    async with db.tenant_reads(TenantContext(account.merchant_id, False)) as reads:
        assert await reads.fetchval("SELECT count(*) FROM checkout_sessions") == 1
    async with db.public_reads() as reads:
        assert not reads.is_in_transaction()
        assert await reads.fetchval("SELECT count(*) FROM checkout_sessions") == 0
        assert await reads.fetchval("SELECT current_setting('mboa.merchant_id', true)") in (
            None,
            "",
        )


async def test_a_page_rendered_once_carries_each_browsers_own_token(
    api: Api, base_url: str
) -> None:
    """Pages are rendered once per content and kept (`render_page`); the CSRF token, bound to
    each browser's cookie, is put in per request, where only the template puts its mark."""
    account = await api.signup(business="<mboa-csrf> Boutique")
    created = await create_session(api.http, account.secret_key, description="<mboa-csrf>")
    session_id, _ = _parts(created["url"])
    seen = []
    for _ in range(2):
        async with httpx.AsyncClient(base_url=base_url) as browser:
            page = await browser.get(_path(created["url"]))
            assert page.status_code == 200, page.text
            cookie = browser.cookies[csrf.COOKIE]
            expected = csrf.token(api.state.jwt_secret, cookie, session_id)
            assert re.findall(r'name="csrf" value="([^"]*)"', page.text) == [expected]
            # What the merchant wrote is shown as text, never taken for the token's place.
            assert page.text.count("&lt;mboa-csrf&gt;") == 3  # title, name, description
            assert "<mboa-csrf>" not in page.text
            seen.append(expected)
    assert seen[0] != seen[1]
