"""The dashboard over HTTP: signing in and out, the session cookie, CSRF, roles as the API's,
payments (list, search, filters, detail, refund) and tenant isolation (docs/dashboard.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from mboa.dashboard.submits import new_form_key
from tests.checkout.conftest import Stack
from tests.dashboard.conftest import csrf_of, form_key_of, pay
from tests.helpers import Api, bearer


async def succeeded(http: httpx.AsyncClient, key: str, intent_id: str) -> dict[str, Any]:
    for _ in range(200):
        intent = (await http.get(f"/v1/payment_intents/{intent_id}", headers=bearer(key))).json()
        if intent["status"] == "succeeded":
            return dict(intent)
        await asyncio.sleep(0.1)
    raise AssertionError(intent)


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(
    shop: Api, browser_for: Any
) -> None:
    account = await shop.signup(business="Chez Tantine")
    browser = await browser_for()
    first = await browser.get("/dashboard")
    assert first.status_code == 303
    assert first.headers["location"] == "/dashboard/login"
    signed_in = await browser.sign_in(account.email)
    cookie = next(
        value
        for name, value in signed_in.headers.multi_items()
        if name == "set-cookie" and value.startswith("mboa_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # 127.0.0.1: a developer's plain HTTP
    home = await browser.get("/dashboard")
    assert home.status_code == 200
    assert "Chez Tantine" in home.text
    assert "Mode test" in home.text  # French first, test mode marked
    assert "default-src 'none'" in home.headers["content-security-policy"]

    # A form without its token is refused, and nothing changes.
    refused = await browser.http.post("/dashboard/logout", data={"csrf": "forged"})
    assert refused.status_code == 303
    assert (await browser.get("/dashboard")).status_code == 200

    out = await browser.post_form("/dashboard", "/dashboard/logout")
    assert out.status_code == 303
    # The old cookie no longer opens anything: the login session itself ended.
    stolen = httpx.Cookies()
    stolen.set("mboa_session", cookie.split(";")[0].split("=", 1)[1])
    again = await browser.http.get("/dashboard", cookies=stolen)
    assert again.status_code == 303


async def test_wrong_password_is_refused_in_the_page(shop: Api, browser_for: Any) -> None:
    account = await shop.signup()
    browser = await browser_for()
    response = await browser.post_form(
        "/dashboard/login", "/dashboard/login", email=account.email, password="not-it-at-all"
    )
    assert response.headers["location"] == "/dashboard/login"
    page = await browser.get("/dashboard/login")
    assert "E-mail ou mot de passe incorrect." in page.text
    assert (await browser.get("/dashboard")).status_code == 303


async def test_payment_list_search_detail_and_refund(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    account = await shop.signup()
    first = await pay(client, account.secret_key, reference="order-6735")
    second = await pay(client, account.secret_key, reference="order-7001", phone="690000000")
    await succeeded(client, account.secret_key, first["id"])
    browser = await browser_for(account)

    listed = await browser.get("/dashboard/payments")
    assert first["id"] in listed.text
    assert second["id"] in listed.text
    assert "12\u202f500\u00a0FCFA" in listed.text
    for query, found, absent in (
        ("6735", first, second),
        ("order-70", second, first),
        ("690000", second, first),
        (first["id"], first, second),
    ):
        page = await browser.get("/dashboard/payments", params={"q": query})
        assert found["id"] in page.text, query
        assert absent["id"] not in page.text, query
    filtered = await browser.get("/dashboard/payments", params={"status": "succeeded"})
    assert first["id"] in filtered.text
    assert "min=20000" not in filtered.text
    none = await browser.get("/dashboard/payments", params={"min": "20000"})
    assert first["id"] not in none.text

    detail = await browser.get(f"/dashboard/payments/{first['id']}")
    assert detail.status_code == 200
    assert "payment_intent.succeeded" in detail.text
    assert "Tentative avec MTN MoMo" in detail.text
    confirm = await browser.get(f"/dashboard/payments/{first['id']}/refund")
    assert "Confirmer : rembourser 12\u202f500\u00a0FCFA" in confirm.text
    done = await browser.http.post(
        f"/dashboard/payments/{first['id']}/refund",
        data={
            "csrf": csrf_of(confirm.text),
            "idempotency_key": form_key_of(confirm.text),
            "amount": "5000",
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/dashboard/payments/{first['id']}"
    refunds = (
        await client.get(
            "/v1/refunds", params={"payment_intent": first["id"]}, headers=account.key_headers
        )
    ).json()["data"]
    assert [r["amount"] for r in refunds] == [5000]
    # The API's rule holds here too: no more than what is left.
    confirm = await browser.get(f"/dashboard/payments/{first['id']}/refund")
    too_much = await browser.http.post(
        f"/dashboard/payments/{first['id']}/refund",
        data={
            "csrf": csrf_of(confirm.text),
            "idempotency_key": form_key_of(confirm.text),
            "amount": "9000",
        },
    )
    assert too_much.headers["location"] == f"/dashboard/payments/{first['id']}/refund"
    shown = await browser.get(too_much.headers["location"])
    assert "Ce montant dépasse ce qui peut encore être remboursé." in shown.text


async def test_an_analyst_sees_but_cannot_refund(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup()
    analyst = await shop.add_member(owner, "analyst")
    intent = await pay(client, owner.secret_key)
    await succeeded(client, owner.secret_key, intent["id"])
    browser = await browser_for(analyst)
    detail = await browser.get(f"/dashboard/payments/{intent['id']}")
    assert detail.status_code == 200
    assert 'id="refund"' not in detail.text
    assert (await browser.get(f"/dashboard/payments/{intent['id']}/refund")).status_code == 403
    sneaked = await browser.http.post(
        f"/dashboard/payments/{intent['id']}/refund",
        data={"csrf": csrf_of(detail.text), "amount": "100"},
    )
    assert sneaked.status_code == 303
    refunds = (
        await client.get(
            "/v1/refunds", params={"payment_intent": intent["id"]}, headers=owner.key_headers
        )
    ).json()["data"]
    assert refunds == []


async def test_another_merchants_ids_are_404_on_every_route(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    victim = await shop.signup()
    intent = await pay(client, victim.secret_key)
    await succeeded(client, victim.secret_key, intent["id"])
    intruder = await shop.signup()
    browser = await browser_for(intruder)
    home = await browser.get("/dashboard")
    for path in (
        f"/dashboard/payments/{intent['id']}",
        f"/dashboard/payments/{intent['id']}/row",
        f"/dashboard/payments/{intent['id']}/refund",
    ):
        assert (await browser.get(path)).status_code == 404, path
    refused = await browser.http.post(
        f"/dashboard/payments/{intent['id']}/refund",
        data={"csrf": csrf_of(home.text), "idempotency_key": new_form_key(), "amount": "100"},
    )
    assert refused.status_code == 303
    shown = await browser.get(refused.headers["location"])
    assert shown.status_code == 404
    listed = await browser.get("/dashboard/payments", params={"q": intent["id"]})
    assert f'id="row-{intent["id"]}"' not in listed.text
    assert 'id="empty"' in listed.text
    assert (
        await client.get(
            "/v1/refunds", params={"payment_intent": intent["id"]}, headers=victim.key_headers
        )
    ).json()["data"] == []
