"""The dashboard's money pages over HTTP against a whole stack: payouts requested from the page
(the API's checks: balance, staff-review threshold), payouts list and detail, balance
transactions with the running balance, customers, streamed CSV exports, roles as the API's and
tenant isolation (docs/dashboard.md, "Payouts, balance, customers, reports")."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import itertools
import re
from typing import Any

import httpx

from mboa.dashboard.service import start_of_cameroon_day
from tests.checkout.conftest import Stack
from tests.dashboard.conftest import Browser, csrf_of, pay
from tests.helpers import Api, bearer
from tests.payouts.helpers import MTN_OK, fund

PAYOUT_PATH = re.compile(r"^/dashboard/payouts/(po_[0-9A-Za-z]+)$")


def today() -> str:
    return (start_of_cameroon_day() + dt.timedelta(hours=2)).date().isoformat()


async def request_payout(browser: Browser, **fields: str) -> httpx.Response:
    """The form, its confirmation page, then the confirmation's own post."""
    form = await browser.get("/dashboard/payouts/new")
    assert form.status_code == 200, form.text
    confirm = await browser.http.post(
        "/dashboard/payouts/confirm", data={"csrf": csrf_of(form.text), **fields}
    )
    if confirm.status_code != 200:
        return confirm
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', confirm.text))
    assert "Confirmer : envoyer" in confirm.text
    return await browser.http.post("/dashboard/payouts", data=hidden)


async def payouts_of(http: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    response = await http.get("/v1/payouts", params={"limit": 100}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_request_a_payout_from_the_page(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    account = await shop.signup()
    available = await fund(stack.state.db, account.merchant_id, 100_000)
    browser = await browser_for(account)

    # Not enough money: a clear message, nothing written.
    refused = await request_payout(browser, phone=MTN_OK, amount=str(available + 1))
    assert refused.status_code == 303
    assert refused.headers["location"] == "/dashboard/payouts/new"
    again = await browser.get("/dashboard/payouts/new")
    assert "Votre solde disponible ne suffit pas pour ce retrait." in again.text
    assert f'value="{available + 1}"' in again.text  # what was typed is kept
    assert await payouts_of(client, account.secret_key) == []
    # A number no operator serves: refused before the confirmation.
    nexttel = await request_payout(browser, phone="+237660000000", amount="5000")
    assert nexttel.status_code == 303
    shown_error = await browser.get(nexttel.headers["location"])
    assert "Seuls les numéros MTN Mobile Money et Orange Money" in shown_error.text
    assert await payouts_of(client, account.secret_key) == []

    done = await request_payout(browser, phone="670 00 00 00", amount="5 000", description="Loyer")
    assert done.status_code == 303, done.text
    found = PAYOUT_PATH.match(done.headers["location"])
    assert found, done.headers["location"]
    payout_id = found.group(1)
    detail = await browser.get(done.headers["location"])
    assert "Retrait demandé : l'argent est en route" in detail.text
    assert "5\u202f000\u00a0FCFA" in detail.text
    for _ in range(200):
        shown = (await client.get(f"/v1/payouts/{payout_id}", headers=account.key_headers)).json()
        if shown["status"] == "paid":
            break
        await asyncio.sleep(0.1)
    assert shown["status"] == "paid", shown
    assert shown["description"] == "Loyer"
    assert shown["destination"]["provider"] == "mtn_momo"

    detail = await browser.get(f"/dashboard/payouts/{payout_id}")
    for seen in ("Retrait demandé", "payout.created", "payout.paid", "Transfert avec MTN MoMo"):
        assert seen in detail.text, seen
    assert shown["operator_transaction_id"] in detail.text
    assert shown["balance_transaction"] in detail.text

    listed = await browser.get("/dashboard/payouts")
    assert f'id="row-{payout_id}"' in listed.text
    assert "*********000" in listed.text
    paid_only = await browser.get("/dashboard/payouts", params={"status": "paid"})
    assert f'id="row-{payout_id}"' in paid_only.text
    failed_only = await browser.get("/dashboard/payouts", params={"status": "failed"})
    assert f'id="row-{payout_id}"' not in failed_only.text

    # The saved wallet: a second payout to the same number without typing it.
    form = await browser.get("/dashboard/payouts/new")
    assert f'name="wallet" value="{payout_id}"' in form.text
    second = await request_payout(browser, wallet=payout_id, amount="2000")
    assert second.status_code == 303
    payouts = await payouts_of(client, account.secret_key)
    assert [p["amount"] for p in payouts] == [2000, 5000]
    assert payouts[0]["destination"]["phone"] == "*********000"

    # The running balance: the newest row's is the available balance, and the oldest row's
    # less its own net is zero (every transaction since the account opened is on the page).
    balance = (await client.get("/v1/balance", headers=account.key_headers)).json()
    page = await browser.get("/dashboard/balance")
    rows = re.findall(r'data-net="(-?\d+)" data-running="(-?\d+)" data-status="(\w+)"', page.text)
    assert len(rows) == 3, rows  # the collection, two payouts
    assert int(rows[0][1]) == balance["available"][0]["amount"]
    assert int(rows[-1][1]) - int(rows[-1][0]) == 0
    for (net, running, status), (_, older, _) in itertools.pairwise(rows):
        assert int(running) - (int(net) if status == "available" else 0) == int(older)
    assert f'href="/dashboard/payouts/{payout_id}"' in page.text


async def test_a_live_payout_above_the_threshold_awaits_approval(
    shop: Api, browser_for: Any, stack: Stack
) -> None:
    account, _live_key = await shop.live_account()
    threshold = stack.state.settings.payouts.approval_threshold
    await fund(stack.state.db, account.merchant_id, 2 * threshold, livemode=True)
    browser = await browser_for(account)
    switched = await browser.post_form("/dashboard", "/dashboard/mode", mode="live")
    assert switched.status_code == 303
    done = await request_payout(browser, phone=MTN_OK, amount=str(threshold + 1))
    assert done.status_code == 303
    detail = await browser.get(done.headers["location"])
    assert "il attend l'accord de notre équipe" in detail.text
    assert 'data-review="awaiting"' in detail.text
    listed = await browser.get("/dashboard/payouts")
    assert (
        "En attente d&#39;approbation" in listed.text or "En attente d'approbation" in listed.text
    )


async def test_customers_list_search_and_detail(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    account = await shop.signup()
    ada = await shop.create_customer(
        account.secret_key, name="Ada Nkemelu", email="ada@example.cm", phone="+237677112233"
    )
    bob = await shop.create_customer(account.secret_key, name="Bob Fotso", email="bob@shop.cm")
    intent = await pay(client, account.secret_key, customer=ada["id"])
    browser = await browser_for(account)
    listed = await browser.get("/dashboard/customers")
    assert ada["id"] in listed.text
    assert bob["id"] in listed.text
    for query, found, absent in (
        ("nkemelu", ada, bob),
        ("bob@shop", bob, ada),
        ("677112", ada, bob),
        (bob["id"], bob, ada),
    ):
        page = await browser.get("/dashboard/customers", params={"q": query})
        assert f'id="row-{found["id"]}"' in page.text, query
        assert f'id="row-{absent["id"]}"' not in page.text, query
    detail = await browser.get(f"/dashboard/customers/{ada['id']}")
    assert detail.status_code == 200
    assert f'id="row-{intent["id"]}"' in detail.text
    assert "ada@example.cm" in detail.text
    other = await browser.get(f"/dashboard/customers/{bob['id']}")
    assert f'id="row-{intent["id"]}"' not in other.text


async def test_csv_export_is_streamed_and_matches_the_api(
    client: httpx.AsyncClient, shop: Api, browser_for: Any
) -> None:
    account = await shop.signup()
    created = [
        await pay(client, account.secret_key, reference=f"csv-{n}", amount=1000 + n)
        for n in range(3)
    ]
    browser = await browser_for(account)
    day = today()
    query = {"kind": "payments", "from": day, "to": day}
    preview = await browser.get("/dashboard/reports", params=query)
    assert preview.status_code == 200
    assert "3 lignes à exporter." in preview.text
    assert 'id="download"' in preview.text

    async with browser.http.stream("GET", "/dashboard/reports/export", params=query) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        assert response.headers["content-type"].startswith("text/csv")
        assert (
            response.headers["content-disposition"]
            == f'attachment; filename="mboa-payments-{day}_{day}.csv"'
        )
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert list(rows[0])[:4] == ["id", "created", "amount", "currency"]
    api = (
        await client.get("/v1/payment_intents", params={"limit": 100}, headers=account.key_headers)
    ).json()["data"]
    assert sorted(r["id"] for r in rows) == sorted(p["id"] for p in api)
    assert [r["id"] for r in rows] == [p["id"] for p in created]  # oldest first
    assert [int(r["amount"]) for r in rows] == [1000, 1001, 1002]
    assert {r["currency"] for r in rows} == {"XAF"}
    assert rows[0]["created"].endswith("+01:00")
    assert rows[0]["reference"] == "csv-0"

    # Another range: none of them.
    empty = await browser.get(
        "/dashboard/reports/export", params={**query, "from": "2020-01-01", "to": "2020-01-02"}
    )
    assert empty.text.strip().count("\n") == 0
    bad = await browser.get("/dashboard/reports", params={**query, "from": "04/12/2026"})
    assert bad.status_code == 400


async def test_an_analyst_reads_but_cannot_request_a_payout(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    owner = await shop.signup()
    analyst = await shop.add_member(owner, "analyst")
    await fund(stack.state.db, owner.merchant_id, 50_000)
    browser = await browser_for(analyst)
    listed = await browser.get("/dashboard/payouts")
    assert listed.status_code == 200
    assert 'id="new-payout"' not in listed.text
    assert (await browser.get("/dashboard/payouts/new")).status_code == 403
    sneaked = await browser.http.post(
        "/dashboard/payouts",
        data={"csrf": csrf_of(listed.text), "phone": MTN_OK, "amount": "1000"},
    )
    assert sneaked.status_code == 303
    assert await payouts_of(client, owner.secret_key) == []
    assert (await browser.get("/dashboard/balance")).status_code == 200
    assert (await browser.get("/dashboard/customers")).status_code == 200
    reports = await browser.get(
        "/dashboard/reports", params={"kind": "payouts", "from": today(), "to": today()}
    )
    assert reports.status_code == 200
    developer = await shop.add_member(owner, "developer")
    dev_browser = await browser_for(developer)
    assert (await dev_browser.get("/dashboard/payouts/new")).status_code == 403


async def test_another_merchants_payouts_and_customers_are_404(
    client: httpx.AsyncClient, shop: Api, browser_for: Any, stack: Stack
) -> None:
    victim = await shop.signup()
    await fund(stack.state.db, victim.merchant_id, 50_000)
    payout = (
        await client.post(
            "/v1/payouts",
            json={"amount": 1000, "currency": "XAF", "destination": {"phone": MTN_OK}},
            headers=victim.key_headers,
        )
    ).json()
    customer = await shop.create_customer(victim.secret_key, name="Victim Client")
    await pay(client, victim.secret_key, customer=customer["id"], reference="victim-777")
    intruder = await shop.signup()
    browser = await browser_for(intruder)
    # A search finds its ids on a platform-role session, the tenant stated: still only theirs.
    for query in ("victim-777", "670000", "Victim"):
        searched = await browser.get("/dashboard/payments", params={"q": query})
        assert 'id="empty"' in searched.text, query
    for path in (f"/dashboard/payouts/{payout['id']}", f"/dashboard/customers/{customer['id']}"):
        assert (await browser.get(path)).status_code == 404, path
    # Naming the victim's payout as a saved wallet finds nothing either.
    form = await browser.get("/dashboard/payouts/new")
    await fund(stack.state.db, intruder.merchant_id, 50_000)
    refused = await browser.http.post(
        "/dashboard/payouts/confirm",
        data={"csrf": csrf_of(form.text), "wallet": payout["id"], "amount": "1000"},
    )
    assert refused.status_code == 303
    assert 'role="alert"' in (await browser.get(refused.headers["location"])).text
    assert await payouts_of(client, intruder.secret_key) == []
    listed = await browser.get("/dashboard/customers", params={"q": customer["id"]})
    assert f'id="row-{customer["id"]}"' not in listed.text
    assert 'id="empty"' in listed.text
    day = today()
    for kind in ("payments", "payouts", "balance_transactions"):
        exported = await browser.get(
            "/dashboard/reports/export", params={"kind": kind, "from": day, "to": day}
        )
        assert exported.status_code == 200
        assert exported.text.count("\n") == (2 if kind == "balance_transactions" else 1), kind
