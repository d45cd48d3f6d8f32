"""The actions wired into the audit log after it landed (docs/audit.md, "What is recorded"):
two-factor sign-in, invitations, password reset, the Settings page, the logo, KYC documents and
the staff console. Each through the real pages or API of a whole stack, the row read back as
the database's owner: its action, actor, target and before/after, never a secret."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from mboa.merchants.service import merchant as merchant_service
from tests.audit.test_audit import no_secret_in, one, rows
from tests.checkout.conftest import Stack
from tests.dashboard.conftest import csrf_of
from tests.dashboard.test_team import invite, path_of, unique_email, wait_for_mail
from tests.dashboard.test_two_factor import (
    NEW_PASSWORD,
    code_at,
    enable_two_factor,
    sign_in_with_code,
    wrong_code,
)
from tests.helpers import PASSWORD, Api
from tests.kyc.documents import PDF, png
from tests.payouts.helpers import create as create_payout
from tests.payouts.helpers import fund

BrowserFor = Callable[..., Awaitable[Any]]
StaffMember = Callable[[str], Awaitable[str]]
RESET_TOKEN = re.compile(r"/dashboard/password/reset/([A-Za-z0-9_\-]+)")


async def test_two_factor_on_codes_renewed_used_and_off(
    shop: Api, browser_for: BrowserFor, owner_connection: asyncpg.Connection
) -> None:
    owner = await shop.signup(business="Deux Facteurs")
    browser = await browser_for(owner)
    secret, first_codes = await enable_two_factor(browser)
    renewed = await browser.post_form(
        "/dashboard/security", "/dashboard/security/recovery-codes", code=code_at(secret, 1)
    )
    assert renewed.status_code == 200, renewed.text
    codes = re.findall(r"<li><code>([a-z0-9-]{14})</code></li>", renewed.text)
    assert len(codes) == 10
    # A wrong code at the sign-in's second step is a refused sign-in.
    other = await browser_for()
    typed = wrong_code(secret)
    refused = await sign_in_with_code(other, owner.email, typed)
    assert refused.headers["location"].startswith("/dashboard/login")
    failed = await one(owner_connection, "auth.login_failed")
    assert (failed["actor_type"], failed["actor_id"]) == ("user", owner.user_id)
    assert failed["after"] == {"reason": "This code is not right, or was already used."}
    no_secret_in(failed, typed)
    # A sign-in with a recovery code (nobody is signed in yet: the user acts).
    signed = await sign_in_with_code(other, owner.email, codes[0])
    assert signed.status_code == 303, signed.text
    # Off, with the password and another recovery code.
    off = await browser.post_form(
        "/dashboard/security",
        "/dashboard/security/two-factor/disable",
        password=PASSWORD,
        code=codes[1],
    )
    assert off.status_code == 303, off.text

    enabled = await one(owner_connection, "auth.totp_enabled")
    assert (enabled["actor_type"], enabled["actor_id"]) == ("user", owner.user_id)
    assert enabled["actor_label"] == owner.email
    assert (enabled["target_type"], enabled["target_id"]) == ("user", owner.user_id)
    assert enabled["merchant_id"] == owner.merchant_id
    assert enabled["before"] == {"two_factor": False}
    assert enabled["after"] == {"two_factor": True, "recovery_codes": 10}
    regenerated = await one(owner_connection, "auth.recovery_codes_regenerated")
    assert regenerated["actor_id"] == owner.user_id
    assert regenerated["before"] == {"recovery_codes_left": 10}
    assert regenerated["after"] == {"recovery_codes_left": 10}
    used = await rows(owner_connection, "auth.recovery_code_used")
    assert [u["after"] for u in used] == [{"recovery_codes_left": 9}, {"recovery_codes_left": 8}]
    assert [u["merchant_id"] for u in used] == [None, owner.merchant_id]  # sign-in, then page
    assert all((u["actor_type"], u["actor_id"]) == ("user", owner.user_id) for u in used)
    disabled = await one(owner_connection, "auth.totp_disabled")
    assert disabled["actor_id"] == owner.user_id
    assert disabled["after"] == {"two_factor": False}
    for row in await rows(owner_connection):
        no_secret_in(row, secret, PASSWORD, *first_codes, *codes)
        no_secret_in(row, *(c.replace("-", "") for c in codes))


async def test_invitations_sent_resent_revoked_accepted(
    shop: Api, browser_for: BrowserFor, owner_connection: asyncpg.Connection
) -> None:
    owner = await shop.signup(business="Equipe Audit")
    owners = await browser_for(owner)
    dropped = unique_email("dropped")
    assert (await invite(owners, dropped, "analyst")).status_code == 303
    async with shop.state.db.platform_transaction() as session:
        [pending] = await merchant_service.pending_invitations(session, owner.merchant_id)
    resent = await owners.post_form(
        "/dashboard/team", f"/dashboard/team/invitations/{pending.id}/resend"
    )
    assert resent.status_code == 303
    revoked = await owners.post_form(
        "/dashboard/team", f"/dashboard/team/invitations/{pending.id}/revoke"
    )
    assert revoked.status_code == 303
    joining = unique_email("joining")
    assert (await invite(owners, joining, "developer")).status_code == 303
    link = await wait_for_mail(owners, joining)
    newcomer = await browser_for()
    page = await newcomer.get(path_of(link))
    joined = await newcomer.http.post(
        path_of(link) + "/signup",
        data={"csrf": csrf_of(page.text), "name": "Ada", "password": NEW_PASSWORD},
    )
    assert joined.status_code == 303, joined.text

    invited = await rows(owner_connection, "member.invited")
    assert [r["after"]["email"] for r in invited] == [dropped, joining]
    first = invited[0]
    assert (first["actor_type"], first["actor_id"]) == ("user", owner.user_id)
    assert (first["target_type"], first["target_id"]) == ("invitation", pending.id)
    assert first["merchant_id"] == owner.merchant_id
    assert first["after"]["role"] == "analyst"
    again = await one(owner_connection, "member.invitation_resent")
    assert again["target_id"] == pending.id
    assert again["actor_id"] == owner.user_id
    assert again["after"]["expires_at"] >= again["before"]["expires_at"]
    gone = await one(owner_connection, "member.invitation_revoked")
    assert gone["before"]["revoked_at"] is None
    assert gone["after"]["revoked_at"] is not None
    accepted = await one(owner_connection, "member.invitation_accepted")
    assert accepted["merchant_id"] == owner.merchant_id
    assert accepted["actor_type"] == "user"
    assert accepted["actor_label"] == joining
    assert accepted["actor_id"] == accepted["after"]["user"]
    assert accepted["after"]["member"].startswith("mem")
    assert accepted["after"]["accepted_at"] is not None
    token = path_of(link).rsplit("/", 1)[-1]
    for row in await rows(owner_connection):
        no_secret_in(row, token, NEW_PASSWORD)


async def test_password_reset_requested_and_done(
    shop: Api, browser_for: BrowserFor, owner_connection: asyncpg.Connection
) -> None:
    account = await shop.signup(email=unique_email("reset"))
    browser = await browser_for()
    for email in (account.email, unique_email("nobody")):
        asked = await browser.post_form(
            "/dashboard/password/forgot", "/dashboard/password/forgot", email=email
        )
        assert asked.status_code == 303
    link = await wait_for_mail(browser, account.email)
    form = await browser.get(path_of(link))
    done = await browser.http.post(
        path_of(link), data={"csrf": csrf_of(form.text), "password": NEW_PASSWORD}
    )
    assert done.status_code == 303, done.text

    requested = await one(owner_connection, "auth.password_reset_requested")  # not the unknown
    assert (requested["actor_type"], requested["actor_id"]) == ("user", account.user_id)
    assert requested["actor_label"] == account.email
    assert (requested["target_type"], requested["target_id"]) == ("user", account.user_id)
    assert requested["after"]["reset"].startswith("pwr")
    reset = await one(owner_connection, "auth.password_reset")
    assert reset["actor_id"] == account.user_id
    assert reset["after"] == {
        "reset": requested["after"]["reset"],
        "sessions_ended": True,
    }
    token = RESET_TOKEN.search(link)
    assert token is not None
    for row in await rows(owner_connection):
        no_secret_in(row, token.group(1), NEW_PASSWORD)


async def test_settings_logo_and_kyc_document(
    shop: Api, browser_for: BrowserFor, owner_connection: asyncpg.Connection
) -> None:
    owner = await shop.signup(business="Ancien Nom")
    browser = await browser_for(owner)
    saved = await browser.post_form(
        "/dashboard/settings",
        "/dashboard/settings/profile",
        name="Nouveau Nom",
        support_email="aide@example.cm",
        support_phone="",
    )
    assert saved.status_code == 303
    wallet = await browser.post_form(
        "/dashboard/settings", "/dashboard/settings/payout-wallet", phone="6 90 00 00 00"
    )
    assert wallet.status_code == 303
    prefs = await browser.post_form(
        "/dashboard/settings", "/dashboard/settings/notifications", notify_webhook_disabled="on"
    )
    assert prefs.status_code == 303
    logo = f"/v1/merchants/{owner.merchant_id}/logo"
    uploaded = await shop.http.post(
        logo, files={"file": ("logo.png", png(32, 32), "image/png")}, headers=owner.user_headers
    )
    assert uploaded.status_code == 200, uploaded.text
    removed = await shop.http.delete(logo, headers=owner.user_headers)
    assert removed.status_code == 200, removed.text
    document = await shop.http.post(
        f"/v1/merchants/{owner.merchant_id}/kyc/documents",
        data={"kind": "business_registration"},
        files={"file": ("rccm.pdf", PDF, "application/pdf")},
        headers=owner.user_headers,
    )
    assert document.status_code == 200, document.text

    profile = await one(owner_connection, "merchant.updated")
    assert (profile["actor_type"], profile["actor_id"]) == ("user", owner.user_id)
    assert (profile["target_type"], profile["target_id"]) == ("merchant", owner.merchant_id)
    assert profile["before"] == {"name": "Ancien Nom", "support_email": None}
    assert profile["after"] == {"name": "Nouveau Nom", "support_email": "aide@example.cm"}
    wallet_row = await one(owner_connection, "merchant.payout_wallet_set")
    assert wallet_row["before"] == {"payout_phone": None, "payout_provider": None}
    assert wallet_row["after"]["payout_provider"] == "orange_money"
    assert "+237690000000" not in str(wallet_row["after"])  # the number masked
    assert wallet_row["after"]["payout_phone"].endswith("000")
    pref_row = await one(owner_connection, "member.preferences_updated")
    assert pref_row["target_type"] == "team_member"
    assert pref_row["before"]["notify_webhook_disabled"] in (False, None)
    assert pref_row["after"]["notify_webhook_disabled"] is True
    assert pref_row["after"]["notify_payout_paid"] is False
    logo_set = await one(owner_connection, "merchant.logo_set")
    assert logo_set["before"] == {"logo": None}
    key = logo_set["after"]["logo"]
    assert key.startswith(f"merchants/{owner.merchant_id}/logo/")
    logo_removed = await one(owner_connection, "merchant.logo_removed")
    assert (logo_removed["before"], logo_removed["after"]) == ({"logo": key}, {"logo": None})
    doc = await one(owner_connection, "kyc.document_uploaded")
    assert (doc["target_type"], doc["target_id"]) == ("kyc_document", document.json()["id"])
    assert doc["merchant_id"] == owner.merchant_id
    assert doc["actor_id"] == owner.user_id
    assert doc["after"]["kind"] == "business_registration"
    assert doc["after"]["content_type"] == "application/pdf"
    assert doc["after"]["sha256"] == hashlib.sha256(PDF).hexdigest()


async def test_console_note_fee_plan_and_payout_reviews_name_the_staff_member(
    stack: Stack,
    shop: Api,
    browser_for: BrowserFor,
    staff_member: StaffMember,
    owner_connection: asyncpg.Connection,
) -> None:
    account, live_key = await shop.live_account()
    m = account.merchant_id
    threshold = stack.settings.payouts.approval_threshold
    await fund(stack.state.db, m, 3 * threshold, livemode=True)
    big = (await create_payout(shop.http, live_key, amount=threshold + 1)).json()
    other = (await create_payout(shop.http, live_key, amount=threshold + 2)).json()
    finance_email = await staff_member("finance")
    finance = await browser_for()
    await finance.sign_in(finance_email)
    page = f"/console/merchants/{m}"
    noted = await finance.post_form(page, f"{page}/notes", body="Volume élevé à surveiller.")
    assert noted.status_code == 303
    planned = await finance.post_form(
        page,
        f"{page}/fee_plans",
        operator="orange_money",
        percent_bps="150",
        fixed_amount="0",
        settlement_delay_seconds="3600",
    )
    assert planned.status_code == 303
    approved = await finance.post_form("/console/payouts", f"/console/payouts/{big['id']}/approve")
    assert approved.status_code == 303
    rejected = await finance.post_form("/console/payouts", f"/console/payouts/{other['id']}/reject")
    assert rejected.status_code == 303

    staff_id = await owner_connection.fetchval(
        "SELECT id FROM users WHERE email = $1", finance_email
    )
    note = await one(owner_connection, "risk_note.added")
    assert (note["actor_type"], note["actor_id"]) == ("staff", staff_id)
    assert note["actor_label"] == finance_email
    assert note["merchant_id"] is None  # staff-only, as the notes are
    assert note["after"] == {
        "merchant": m,
        "author": staff_id,
        "body": "Volume élevé à surveiller.",
    }
    plan = await one(owner_connection, "fee_plan.set")
    assert (plan["actor_type"], plan["actor_id"]) == ("staff", staff_id)
    assert plan["target_id"] == f"{m}:orange_money:XAF"
    assert plan["after"]["percent_bps"] == 150
    for action, payout in (("payout.approved", big), ("payout.rejected", other)):
        row = await one(owner_connection, action)
        assert (row["actor_type"], row["actor_id"]) == ("staff", staff_id), action
        assert (row["target_type"], row["target_id"]) == ("payout", payout["id"])
        assert row["merchant_id"] == m
    # The merchant does not read the staff-only note in its own log.
    log = await shop.http.get(
        f"/v1/merchants/{m}/audit_logs", params={"limit": 100}, headers=account.user_headers
    )
    assert log.status_code == 200, log.text
    assert "risk_note.added" not in {entry["action"] for entry in log.json()["data"]}
