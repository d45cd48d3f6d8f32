"""The console's merchant pages (docs/going-live.md "Staff console"): what a merchant's page
shows (balances in both modes, team, keys and their last use, recent payments, fee plans), the
merchant list's search and status filter, and the four decisions taken from the page, each with
its reason and its audit row."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from mboa.dashboard.i18n import translations
from mboa.dashboard.messages import error_message
from mboa.web.formatting import money
from tests.audit.test_audit import one, rows
from tests.checkout.conftest import Stack
from tests.console.test_console import decide, kyc_submitted
from tests.dashboard.conftest import pay
from tests.helpers import Api, assert_error, bearer
from tests.payouts.helpers import fund

BrowserFor = Callable[..., Awaitable[Any]]
StaffMember = Callable[[str], Awaitable[str]]
LANG = re.compile(r'<html lang="([a-z]{2})">')
MERCHANT_LINK = re.compile(r'<a href="/console/merchants/(acct_[A-Za-z0-9]+)">')


def page_locale(html: str) -> str:
    found = LANG.search(html)
    assert found, html[:300]
    return found.group(1)


def section(html: str, title: str) -> str:
    """The card whose heading is `title` (given in English, looked up in the page's language)."""
    heading = f"<h2>{translations(page_locale(html)).gettext(title)}</h2>"
    assert heading in html, (heading, html[:3000])
    return html.split(heading, 1)[1].split("</section>", 1)[0]


def cells(card: str) -> list[list[str]]:
    """The card's table body, row by row, each cell's text without tags."""
    body = card.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


async def test_the_merchant_page_shows_balances_team_keys_payments_and_fee_plans(
    stack: Stack, shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    account, live_key = await shop.live_account()
    m = account.merchant_id
    developer = await shop.add_member(account, "developer")
    test_available = await fund(stack.state.db, m, 100_000, livemode=False)
    live_available = await fund(stack.state.db, m, 40_000, livemode=True)
    payment = await pay(shop.http, account.secret_key, amount=12_345)
    used = await shop.http.get("/v1/account", headers=bearer(live_key))
    assert used.status_code == 200, used.text
    await stack.state.key_usage.flush()  # last use is written in batches
    finance = bearer(await shop.staff("finance"))
    own_plan = await shop.http.post(
        f"/v1/admin/merchants/{m}/fee_plans",
        json={"operator": "orange_money", "percent_bps": 137, "fixed_amount": 25},
        headers=finance,
    )
    assert own_plan.status_code == 200, own_plan.text

    support = await browser_for()
    await support.sign_in(await staff_member("support"))
    page = await support.get(f"/console/merchants/{m}")
    assert page.status_code == 200
    html = page.text
    locale = page_locale(html)
    _ = translations(locale).gettext

    balances = cells(section(html, "Balances"))
    assert [row[:2] for row in balances] == [
        [_("Test"), money(test_available, "XAF", locale)],
        [_("Live"), money(live_available, "XAF", locale)],
    ]
    team = section(html, "Team")
    assert f"{account.email} · owner" in team
    assert f"{developer.email} · developer" in team
    keys = {row[0].split("…")[-1]: row[1:] for row in cells(section(html, "API keys"))}
    assert keys[live_key[-4:]][0] == _("Live")
    assert keys[live_key[-4:]][1] not in ("", _("Never"))  # the use above, with its time
    assert keys[account.publishable_key[-4:]] == [_("Test"), _("Never")]
    payments = cells(section(html, "Recent payments"))
    assert [money(payment["amount"], "XAF", locale), _("Test")] == [
        payments[0][0],
        payments[0][2],
    ]
    plans = {row[0]: row for row in cells(section(html, "Fee plans"))}
    orange = next(row for name, row in plans.items() if "Orange" in name)
    assert orange[1:3] == ["137", money(25, "XAF", locale)]
    assert orange[4] == _("Own")
    mtn = next(row for name, row in plans.items() if "MTN" in name)
    assert mtn[4] == _("Default")


async def test_merchants_are_searched_by_name_id_or_owner_email_and_filtered_by_status(
    shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    sandbox = await shop.signup(business="Atelier Bonaberi")
    submitted, _ = await kyc_submitted(shop)  # "Boutique Essomba"
    live, _key = await shop.live_account()
    support = await browser_for()
    await support.sign_in(await staff_member("support"))

    async def listed(**params: str) -> list[str]:
        page = await support.get("/console/merchants", params=params)
        assert page.status_code == 200
        return MERCHANT_LINK.findall(page.text)

    everyone = {sandbox.merchant_id, submitted.merchant_id, live.merchant_id}
    assert set(await listed()) == everyone
    assert await listed(q="bonaberi") == [sandbox.merchant_id]  # any case, part of the name
    assert await listed(q=submitted.merchant_id) == [submitted.merchant_id]
    assert await listed(q=live.email.upper()) == [live.merchant_id]  # an owner's email
    assert await listed(q="%") == []  # a pattern character is only a character
    assert await listed(q="_") == []
    assert await listed(status="submitted") == [submitted.merchant_id]
    assert await listed(status="active") == [live.merchant_id]
    assert await listed(status="sandbox") == [sandbox.merchant_id]
    assert await listed(status="rejected") == []
    assert await listed(status="sandbox", q="Essomba") == []
    assert set(await listed(status="zombie")) == everyone  # an unknown status filters nothing


async def test_console_decisions_need_a_reason_and_are_audited(
    stack: Stack,
    shop: Api,
    browser_for: BrowserFor,
    staff_member: StaffMember,
    owner_connection: asyncpg.Connection,
) -> None:
    """Reject, approve, suspend and reactivate from the merchant's page: a reason each time,
    the live key refused while suspended, and each decision in the audit log with the staff
    member, the reason and the status before and after (the owner's submissions too)."""
    account, _ = await kyc_submitted(shop)
    m = account.merchant_id
    email = await staff_member("compliance")
    staff_id = await owner_connection.fetchval("SELECT id FROM users WHERE email = $1", email)
    compliance = await browser_for()
    await compliance.sign_in(email)

    async def status() -> str:
        kyc = await shop.http.get(f"/v1/merchants/{m}/kyc", headers=account.user_headers)
        return str(kyc.json()["status"])

    def audited(row: dict[str, Any], before: str, after: str, reason: str) -> None:
        assert (row["actor_type"], row["actor_id"], row["actor_label"]) == (
            "staff",
            staff_id,
            email,
        )
        assert (row["merchant_id"], row["target_type"], row["target_id"]) == (m, "merchant", m)
        assert row["before"] == {"status": before}
        assert row["after"] == {"status": after, "reason": reason}
        assert row["ip"] is not None
        assert row["request_id"]

    submitted = await one(owner_connection, "merchant.submitted")
    assert (submitted["actor_type"], submitted["actor_id"]) == ("user", account.user_id)
    assert (submitted["before"], submitted["after"]) == (
        {"status": "sandbox"},
        {"status": "submitted"},
    )

    assert (await decide(compliance, m, "reject", "")).status_code == 303
    assert await status() == "submitted"
    reason = "Le RCCM ne correspond pas au nom."
    assert (await decide(compliance, m, "reject", reason)).status_code == 303
    assert await status() == "rejected"
    audited(await one(owner_connection, "merchant.rejected"), "submitted", "rejected", reason)

    resubmitted = await shop.http.post(
        f"/v1/merchants/{m}/kyc/submit", headers=account.user_headers
    )
    assert resubmitted.status_code == 200, resubmitted.text
    assert [r["before"] for r in await rows(owner_connection, "merchant.submitted")] == [
        {"status": "sandbox"},
        {"status": "rejected"},
    ]
    assert (await decide(compliance, m, "approve", "RCCM corrigé.")).status_code == 303
    audited(
        await one(owner_connection, "merchant.approved"), "submitted", "active", "RCCM corrigé."
    )
    live_key = str((await shop.create_key(account, livemode=True))["secret"])
    assert (await shop.http.get("/v1/account", headers=bearer(live_key))).status_code == 200

    # Suspend: a reason first, then live requests refused (test mode keeps working).
    assert (await decide(compliance, m, "suspend", "   ")).status_code == 303
    assert await status() == "active"
    shown = await compliance.get(f"/console/merchants/{m}")  # the refusal, said on the page
    assert error_message("parameter_invalid", page_locale(shown.text)) in shown.text.replace(
        "&#39;", "'"
    )
    assert (
        await decide(compliance, m, "suspend", "Rétrofacturations en hausse.")
    ).status_code == 303
    assert await status() == "suspended"
    assert_error(
        await shop.http.get("/v1/account", headers=bearer(live_key)), 403, code="account_not_live"
    )
    assert (await shop.http.get("/v1/account", headers=account.key_headers)).status_code == 200
    page = await compliance.get(f"/console/merchants/{m}")
    assert "Rétrofacturations en hausse." in page.text
    assert 'value="reactivate"' in page.text
    audited(
        await one(owner_connection, "merchant.suspended"),
        "active",
        "suspended",
        "Rétrofacturations en hausse.",
    )

    # Reactivate: a reason too; live requests work again.
    assert (await decide(compliance, m, "reactivate", "")).status_code == 303
    assert await status() == "suspended"
    assert (await decide(compliance, m, "reactivate", "Litiges réglés.")).status_code == 303
    assert await status() == "active"
    assert (await shop.http.get("/v1/account", headers=bearer(live_key))).status_code == 200
    audited(
        await one(owner_connection, "merchant.reactivated"),
        "suspended",
        "active",
        "Litiges réglés.",
    )
