"""The audit log page (`/dashboard/audit`, docs/audit.md): what owners see, filters and pages,
who may open it, and that one merchant never sees another's entries."""

from __future__ import annotations

from typing import Any

from mboa.audit.service import Actor, ActorType, audit
from mboa.postgres import set_merchant_only
from tests.helpers import Api, bearer


async def test_owner_sees_the_entries_filters_and_pages(shop: Api, browser_for: Any) -> None:
    account = await shop.signup(business="Chez Tantine")
    key = await shop.create_key(account, name="caisse")
    revoked = await shop.http.post(
        f"/v1/merchants/{account.merchant_id}/api_keys/{key['id']}/revoke",
        headers=account.user_headers,
    )
    assert revoked.status_code == 200, revoked.text
    browser = await browser_for(account)
    home = await browser.get("/dashboard")
    assert 'href="/dashboard/audit"' in home.text  # the nav link, for an owner
    page = await browser.get("/dashboard/audit")
    assert page.status_code == 200, page.text
    assert "<h1>Journal d" in page.text
    assert "Clé API révoquée" in page.text
    assert "Clé API créée" in page.text
    assert key["id"] in page.text
    assert account.email in page.text
    assert key["secret"] not in page.text
    # Filters.
    only = await browser.get("/dashboard/audit", params={"action": "api_key.revoked"})
    assert only.text.count('<tr id="row-aud_') == 1
    by_target = await browser.get("/dashboard/audit", params={"target": key["id"]})
    assert by_target.text.count('<tr id="row-aud_') == 2
    none = await browser.get("/dashboard/audit", params={"actor": "nobody@example.cm"})
    assert "Aucune entrée ne correspond." in none.text
    nonsense = await browser.get("/dashboard/audit", params={"action": "<script>", "from": "x"})
    assert nonsense.status_code == 200
    assert "<script>" not in nonsense.text
    # Keyset pages: 25 a page, "Older entries" carries the last id.
    for i in range(24):  # (through the service: 24 API calls would meet the rate limit)
        async with shop.state.db.app_sessions() as session, session.begin():
            await set_merchant_only(session, account.merchant_id)
            await audit.record(
                session, action="api_key.created", target=("api_key", f"key_{i}"),
                merchant_id=account.merchant_id, actor=Actor(ActorType.user, account.user_id),
            )  # fmt: skip
    first = await browser.get("/dashboard/audit")
    assert first.text.count('<tr id="row-aud_') == 25
    assert 'id="next"' in first.text
    after = first.text.split("after=")[1].split('"')[0]
    second = await browser.get("/dashboard/audit", params={"after": after})
    assert second.text.count('<tr id="row-aud_') == 3  # 2 signup keys + 1 + 24 + 1 revoke = 28
    assert 'id="next"' not in second.text
    # English.
    browser.http.cookies.set("mboa_lang", "en")
    english = await browser.get("/dashboard/audit")
    assert "API key revoked" in english.text


async def test_isolation_and_roles(shop: Api, browser_for: Any) -> None:
    a = await shop.signup(business="A")
    b = await shop.signup(business="B")
    a_key = await shop.create_key(a, name="a-only")
    a_rows = await shop.http.get(
        f"/v1/merchants/{a.merchant_id}/audit_logs", headers=a.user_headers
    )
    a_entry = a_rows.json()["data"][0]["id"]
    b_browser = await browser_for(b)
    page = await b_browser.get("/dashboard/audit")
    assert page.status_code == 200
    assert a_key["id"] not in page.text
    assert a_entry not in page.text
    # Another merchant's entry as a cursor leaks nothing: the first page of B's own.
    cursor = await b_browser.get("/dashboard/audit", params={"after": a_entry})
    assert cursor.status_code == 200
    assert a_key["id"] not in cursor.text
    searched = await b_browser.get("/dashboard/audit", params={"target": a_key["id"]})
    assert "Aucune entrée ne correspond." in searched.text
    # An analyst has no link and gets 403.
    analyst = await shop.add_member(a, "analyst")
    analyst_browser = await browser_for(analyst)
    home = await analyst_browser.get("/dashboard")
    assert 'href="/dashboard/audit"' not in home.text
    refused = await analyst_browser.get("/dashboard/audit")
    assert refused.status_code == 403


async def test_a_refused_dashboard_sign_in_is_recorded(shop: Api, browser_for: Any) -> None:
    account = await shop.signup()
    browser = await browser_for()
    refused = await browser.post_form(
        "/dashboard/login", "/dashboard/login", email=account.email, password="not-the-password"
    )
    assert refused.status_code in (303, 401), refused.text
    staff = bearer(await shop.staff())
    listed = await shop.http.get(
        "/v1/admin/audit_logs", params={"action": "auth.login_failed"}, headers=staff
    )
    rows = listed.json()["data"]
    assert len(rows) == 1
    assert rows[0]["actor"]["id"] == account.user_id
    assert "not-the-password" not in listed.text
