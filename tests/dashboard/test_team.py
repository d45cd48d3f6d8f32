"""Team, Settings, password reset, invitations and e-mail (docs/dashboard.md, "Team",
"Settings", "E-mail"): over HTTP against the whole stack (its worker sends the e-mails into the
local mailbox), the mailers against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from mboa.app import build_state, close_state, create_app
from mboa.config import Environment, MailSettings, Settings
from mboa.mail.backends import MailboxMailer, mailbox_messages
from mboa.mail.service import PAYOUT_PAID, mail
from mboa.webhooks.service import webhook_delivery
from tests.checkout.conftest import Stack
from tests.dashboard.conftest import Browser, csrf_of
from tests.helpers import PASSWORD, Api
from tests.payouts.helpers import create as create_payout
from tests.payouts.helpers import fund

NEW_PASSWORD = "mango-tree-bicycle-harbour-42"
MAIL_LINK = re.compile(r'class="mail-link" href="([^"]+)"')
MESSAGE_ROW = re.compile(r'href="/dashboard/dev/mail/([0-9T]+-[0-9a-f]+)"')


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.cm"


async def mails_to(browser: Browser, email: str) -> list[str]:
    page = await browser.get("/dashboard/dev/mail", params={"to": email})
    assert page.status_code == 200, page.text
    return MESSAGE_ROW.findall(page.text)


async def wait_for_mail(browser: Browser, email: str, count: int = 1) -> str:
    """The newest message to `email` once `count` have arrived: the link it carries."""
    for _ in range(150):
        found = await mails_to(browser, email)
        if len(found) >= count:
            message = await browser.get(f"/dashboard/dev/mail/{found[0]}")
            links = MAIL_LINK.findall(message.text)
            return links[0] if links else message.text
        await asyncio.sleep(0.1)
    raise AssertionError(f"no e-mail to {email}")


def path_of(link: str) -> str:
    return httpx.URL(link).path


async def flash_of(browser: Browser, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return html.unescape((await browser.get(response.headers["location"])).text)


# -- mailers -------------------------------------------------------------------------------------


async def test_a_notification_is_sent_once_in_each_recipients_language(
    stack: Stack, shop: Api, tmp_path: Path
) -> None:
    owner = await shop.signup(email=unique_email("owner"))
    async with stack.state.db.platform_transaction() as session:
        await session.execute(
            text("UPDATE users SET locale = 'en' WHERE id = :id"), {"id": owner.user_id}
        )
        queued = await mail.notify_members(
            session,
            kind=PAYOUT_PAID,
            merchant_id=owner.merchant_id,
            livemode=False,
            subject="payout paid",
            data={"payout": "po_x", "amount": 12500, "currency": "XAF", "phone": "+23767***00"},
        )
    assert queued is not None
    assert queued.recipients == [owner.email]
    mailer = MailboxMailer(tmp_path, "Mboa Pay <no-reply@mboa.cm>")
    # The worker may already have sent it: either this call or the worker's, never both.
    first = await mail.send(stack.state.db, stack.settings, mailer, queued.id)
    again = await mail.send(stack.state.db, stack.settings, mailer, queued.id)
    assert again == "nothing to do"
    async with stack.state.db.platform_transaction() as session:
        sent_at = (
            await session.execute(
                text("SELECT sent_at FROM notifications WHERE id = :id"), {"id": queued.id}
            )
        ).scalar_one()
    assert sent_at is not None
    if first == "sent":
        [message] = mailbox_messages(tmp_path)
        assert message.subject == "[test mode] Payout of 12,500\u00a0FCFA sent"
        assert "/dashboard/payouts/po_x" in message.text
    else:
        assert first == "nothing to do"
        assert mailbox_messages(tmp_path) == []


async def test_the_mailbox_pages_do_not_exist_with_smtp_or_in_production(
    settings: Settings, database_url: str, redis_url: str, stack: Stack, browser_for: Any
) -> None:
    browser = await browser_for()
    assert (await browser.get("/dashboard/dev/mail")).status_code == 200
    assert (
        await browser.get("/dashboard/dev/mail/20260101T000000000000-" + "0" * 32)
    ).status_code == 404
    assert (await browser.get("/dashboard/dev/mail/..%2F..%2Fetc%2Fpasswd")).status_code == 404
    assert settings.model_copy(update={"env": Environment.production}).mail_backend == "smtp"
    for changed in (
        {"mail": MailSettings(backend="smtp")},
        {"env": Environment.production},
    ):
        state = build_state(
            settings.model_copy(update=changed), database_url, redis_url, process="test-mail"
        )
        try:
            transport = httpx.ASGITransport(app=create_app(state))
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                assert (await http.get("/dashboard/dev/mail")).status_code == 404
        finally:
            await close_state(state)


# -- password reset ------------------------------------------------------------------------------


async def test_password_reset_round_trip(stack: Stack, shop: Api, browser_for: Any) -> None:
    account = await shop.signup(email=unique_email("reset"))
    elsewhere = await browser_for(account)  # another signed-in device
    assert (await elsewhere.get("/dashboard")).status_code == 200
    browser = await browser_for()
    login = await browser.get("/dashboard/login")
    assert 'href="/dashboard/password/forgot"' in login.text

    asked = await browser.post_form(
        "/dashboard/password/forgot", "/dashboard/password/forgot", email=account.email
    )
    unknown = await browser.post_form(
        "/dashboard/password/forgot", "/dashboard/password/forgot", email=unique_email("nobody")
    )
    # The same answer whether or not an account uses the address.
    assert asked.headers["location"] == unknown.headers["location"]
    shown = await flash_of(browser, unknown)
    assert "Si un compte utilise cette adresse" in shown

    link = await wait_for_mail(browser, account.email)
    assert link.startswith(stack.url + "/dashboard/password/reset/")
    form = await browser.get(path_of(link))
    assert form.status_code == 200
    weak = await browser.http.post(
        path_of(link), data={"csrf": csrf_of(form.text), "password": "password1"}
    )
    assert "trop facile à deviner" in await flash_of(browser, weak)
    done = await browser.http.post(
        path_of(link), data={"csrf": csrf_of(form.text), "password": NEW_PASSWORD}
    )
    assert done.headers["location"] == "/dashboard/login"
    # Every other session ended; the old password no longer works, the new one does.
    assert (await elsewhere.get("/dashboard")).status_code == 303
    assert (
        await shop.http.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    ).status_code == 401
    await browser.sign_in(account.email, NEW_PASSWORD)
    # The link works once.
    assert (await browser.get(path_of(link))).status_code == 400
    reused = await browser.http.post(
        path_of(link), data={"csrf": csrf_of(form.text), "password": "another-" + NEW_PASSWORD}
    )
    assert reused.status_code == 303
    assert (
        await shop.http.post(
            "/v1/auth/login", json={"email": account.email, "password": NEW_PASSWORD}
        )
    ).status_code == 200


async def test_an_expired_reset_link_is_refused(stack: Stack, shop: Api, browser_for: Any) -> None:
    account = await shop.signup(email=unique_email("expired"))
    browser = await browser_for()
    await browser.post_form(
        "/dashboard/password/forgot", "/dashboard/password/forgot", email=account.email
    )
    link = await wait_for_mail(browser, account.email)
    async with stack.state.db.platform_transaction() as session:
        await session.execute(
            text(
                "UPDATE password_resets SET expires_at = now() - interval '1 second'"
                " WHERE user_id = :id"
            ),
            {"id": account.user_id},
        )
    page = await browser.get(path_of(link))
    assert page.status_code == 400
    assert "Ce lien ne fonctionne plus" in page.text


# -- team and invitations ------------------------------------------------------------------------


async def invite(browser: Browser, email: str, role: str) -> httpx.Response:
    return await browser.post_form(
        "/dashboard/team", "/dashboard/team/invitations", email=email, role=role
    )


async def test_an_invited_new_user_signs_up_and_joins(
    stack: Stack, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup(business="Boutique Ndolo")
    owners = await browser_for(owner)
    invitee = unique_email("new")
    sent = await invite(owners, invitee, "developer")
    team = await flash_of(owners, sent)
    assert "Invitation envoyée." in team
    assert invitee in team

    link = await wait_for_mail(owners, invitee)
    assert link.startswith(stack.url + "/dashboard/invitations/")
    browser = await browser_for()
    page = await browser.get(path_of(link))
    assert page.status_code == 200
    assert "Boutique Ndolo" in page.text
    joined = await browser.http.post(
        path_of(link) + "/signup",
        data={"csrf": csrf_of(page.text), "name": "Ada Mbarga", "password": NEW_PASSWORD},
    )
    assert joined.status_code == 303
    assert joined.headers["location"] == "/dashboard"
    home = await browser.get("/dashboard")
    assert home.status_code == 200
    assert "Boutique Ndolo" in home.text
    assert "Bienvenue dans l'équipe" in html.unescape(home.text)
    # A developer sees the team but cannot invite.
    seen = await browser.get("/dashboard/team")
    assert "Ada Mbarga" in seen.text
    assert 'id="send-invite"' not in seen.text
    # The link worked once.
    assert (await (await browser_for()).get(path_of(link))).status_code == 404
    listed = await owners.get("/dashboard/team")
    assert "Ada Mbarga" in listed.text
    assert "Invitations en attente" not in listed.text


async def test_an_invited_existing_user_signs_in_and_accepts(shop: Api, browser_for: Any) -> None:
    owner = await shop.signup(business="Maison Akwa")
    other = await shop.signup(email=unique_email("known"), business="Chez Other")
    owners = await browser_for(owner)
    await invite(owners, other.email.upper(), "analyst")
    link = await wait_for_mail(owners, other.email)
    browser = await browser_for()
    page = await browser.get(path_of(link))
    assert 'id="signin-to-accept"' in page.text
    assert 'id="signup-accept"' not in page.text
    signed = await browser.post_form(
        "/dashboard/login",
        "/dashboard/login",
        email=other.email,
        password=PASSWORD,
        next=path_of(link),
    )
    assert signed.headers["location"] == path_of(link)
    page = await browser.get(path_of(link))
    accepted = await browser.http.post(path_of(link) + "/accept", data={"csrf": csrf_of(page.text)})
    assert accepted.headers["location"] == "/dashboard"
    home = await browser.get("/dashboard")
    assert "Maison Akwa" in home.text
    members = await shop.http.get(
        f"/v1/merchants/{owner.merchant_id}/members", headers=owner.user_headers
    )
    roles = {m["user_id"]: m["role"] for m in members.json()["data"]}
    assert roles[other.user_id] == "analyst"


async def test_an_invitation_for_another_address_is_not_accepted(
    shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup()
    intruder = await shop.signup(email=unique_email("intruder"))
    owners = await browser_for(owner)
    invitee = unique_email("invitee")
    await invite(owners, invitee, "admin")
    link = await wait_for_mail(owners, invitee)
    browser = await browser_for()
    token = csrf_of((await browser.get(path_of(link))).text)
    await browser.sign_in(intruder.email)
    page = await browser.get(path_of(link))
    assert 'id="accept"' not in page.text
    refused = await browser.http.post(path_of(link) + "/accept", data={"csrf": token})
    assert "Cette invitation a été envoyée à une autre adresse" in await flash_of(browser, refused)


async def test_revoke_and_resend_an_invitation(shop: Api, browser_for: Any) -> None:
    owner = await shop.signup()
    owners = await browser_for(owner)
    invitee = unique_email("revoked")
    await invite(owners, invitee, "analyst")
    first = await wait_for_mail(owners, invitee)
    again = await invite(owners, invitee, "analyst")
    assert "une invitation en attente" in await flash_of(owners, again)
    team = await owners.get("/dashboard/team")
    [invitation_id] = re.findall(r'<tr id="(inv_[0-9A-Za-z]+)"', team.text)
    await owners.post_form("/dashboard/team", f"/dashboard/team/invitations/{invitation_id}/resend")
    second = await wait_for_mail(owners, invitee, count=2)
    assert second != first
    visitor = await browser_for()
    assert (await visitor.get(path_of(first))).status_code == 404  # replaced by the resend
    assert (await visitor.get(path_of(second))).status_code == 200
    revoked = await owners.post_form(
        "/dashboard/team", f"/dashboard/team/invitations/{invitation_id}/revoke"
    )
    assert "Invitation révoquée" in await flash_of(owners, revoked)
    assert (await visitor.get(path_of(second))).status_code == 404


async def test_roles_change_and_the_last_owner_stays(shop: Api, browser_for: Any) -> None:
    owner = await shop.signup()
    admin = await shop.add_member(owner, "admin")
    developer = await shop.add_member(owner, "developer")
    owners = await browser_for(owner)
    team = await owners.get("/dashboard/team")
    member_ids = dict(
        re.findall(
            r'<tr id="(mem_[0-9A-Za-z]+)" data-email="([^"]+)">',
            team.text,
        )
    )
    by_email = {email: member_id for member_id, email in member_ids.items()}

    changed = await owners.post_form(
        "/dashboard/team",
        f"/dashboard/team/members/{by_email[developer.email]}/role",
        role="analyst",
    )
    assert "Rôle modifié." in await flash_of(owners, changed)
    # The last owner cannot be removed nor demoted.
    removed = await owners.post_form(
        "/dashboard/team", f"/dashboard/team/members/{by_email[owner.email]}/remove"
    )
    assert "au moins un propriétaire" in await flash_of(owners, removed)
    demoted = await owners.post_form(
        "/dashboard/team", f"/dashboard/team/members/{by_email[owner.email]}/role", role="admin"
    )
    assert "au moins un propriétaire" in await flash_of(owners, demoted)

    # An admin cannot touch an owner, nor invite one; the page offers neither.
    admins = await browser_for(admin)
    page = await admins.get("/dashboard/team")
    assert f"/dashboard/team/members/{by_email[owner.email]}/remove" not in page.text
    assert '<option value="owner"' not in page.text
    refused = await admins.post_form(
        "/dashboard/team", f"/dashboard/team/members/{by_email[owner.email]}/remove"
    )
    assert "Seul un propriétaire" in await flash_of(admins, refused)
    refused = await invite(admins, unique_email("boss"), "owner")
    assert "Seul un propriétaire" in await flash_of(admins, refused)

    # The owner removes a member, after a confirmation naming them.
    confirm = await owners.get(f"/dashboard/team/members/{by_email[developer.email]}/remove")
    assert developer.email in confirm.text
    gone = await owners.post_form(
        f"/dashboard/team/members/{by_email[developer.email]}/remove",
        f"/dashboard/team/members/{by_email[developer.email]}/remove",
    )
    assert "Membre retiré." in await flash_of(owners, gone)
    assert developer.email not in (await owners.get("/dashboard/team")).text


@pytest.mark.parametrize("role", ["analyst", "developer"])
async def test_analysts_and_developers_cannot_invite(
    shop: Api, browser_for: Any, role: str
) -> None:
    owner = await shop.signup()
    member = await shop.add_member(owner, role)
    browser = await browser_for(member)
    page = await browser.get("/dashboard/team")
    assert page.status_code == 200
    assert 'id="send-invite"' not in page.text
    invitee = unique_email("sneaky")
    refused = await browser.http.post(
        "/dashboard/team/invitations",
        data={"csrf": csrf_of(page.text), "email": invitee, "role": "analyst"},
    )
    assert "Votre rôle ne le permet pas" in await flash_of(browser, refused)
    assert invitee not in (await (await browser_for(owner)).get("/dashboard/team")).text


async def test_another_merchants_members_and_invitations_are_404(
    shop: Api, browser_for: Any
) -> None:
    victim = await shop.signup()
    victims = await browser_for(victim)
    await invite(victims, unique_email("victim-invitee"), "analyst")
    team = await victims.get("/dashboard/team")
    [member_id] = re.findall(r'<tr id="(mem_[0-9A-Za-z]+)"', team.text)
    [invitation_id] = re.findall(r'<tr id="(inv_[0-9A-Za-z]+)"', team.text)

    intruder = await browser_for(await shop.signup())
    assert (await intruder.get(f"/dashboard/team/members/{member_id}/remove")).status_code == 404
    page = await intruder.get("/dashboard/team")
    for action in (
        f"/dashboard/team/members/{member_id}/remove",
        f"/dashboard/team/members/{member_id}/role",
        f"/dashboard/team/invitations/{invitation_id}/revoke",
        f"/dashboard/team/invitations/{invitation_id}/resend",
    ):
        refused = await intruder.http.post(
            action, data={"csrf": csrf_of(page.text), "role": "admin"}
        )
        assert "Cette page n'existe pas" in await flash_of(intruder, refused), action
    after = await victims.get("/dashboard/team")
    assert member_id in after.text
    assert invitation_id in after.text


# -- settings ------------------------------------------------------------------------------------


async def test_settings_profile_wallet_preferences_and_language(
    shop: Api, browser_for: Any, stack: Stack
) -> None:
    owner = await shop.signup(business="Old Name")
    browser = await browser_for(owner)
    page = await browser.get("/dashboard/settings")
    assert page.status_code == 200
    saved = await browser.post_form(
        "/dashboard/settings",
        "/dashboard/settings/profile",
        name="Nouveau Nom",
        support_email="aide@example.cm",
        support_phone="+237 670 00 00 00",
    )
    assert "Profil de l'entreprise enregistré." in await flash_of(browser, saved)
    bad = await browser.post_form(
        "/dashboard/settings", "/dashboard/settings/profile", name="X", support_email="nope"
    )
    assert "Saisissez une adresse e-mail valide." in await flash_of(browser, bad)
    account = await shop.http.get(f"/v1/merchants/{owner.merchant_id}", headers=owner.user_headers)
    assert account.json()["name"] == "Nouveau Nom"

    wallet = await browser.post_form(
        "/dashboard/settings", "/dashboard/settings/payout-wallet", phone="6 90 00 00 00"
    )
    shown = await flash_of(browser, wallet)
    assert "Compte de retrait par défaut enregistré." in shown
    assert "+237690000000" in shown
    assert "Orange Money" in shown
    refused = await browser.post_form(
        "/dashboard/settings", "/dashboard/settings/payout-wallet", phone="12"
    )
    assert 'role="alert"' in await flash_of(browser, refused)

    # Preferences: an owner gets payout notices until they turn them off.
    turned = await browser.post_form(
        "/dashboard/settings", "/dashboard/settings/notifications", notify_webhook_disabled="on"
    )
    assert "Vos préférences d'e-mail sont enregistrées." in await flash_of(browser, turned)
    async with stack.state.db.platform_transaction() as session:
        nobody = await mail.notify_members(
            session,
            kind=PAYOUT_PAID,
            merchant_id=owner.merchant_id,
            livemode=False,
            subject="x",
            data={"payout": "po_x", "amount": 1, "currency": "XAF", "phone": "x"},
        )
        await session.rollback()
    assert nobody is None

    english = await browser.post_form(
        "/dashboard/settings", "/dashboard/language", locale="en", next="/dashboard/settings"
    )
    assert english.headers["location"] == "/dashboard/settings"
    assert "Default payout wallet" in (await browser.get("/dashboard/settings")).text


async def test_an_analyst_reads_settings_but_cannot_change_the_business(
    shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup(business="Stays")
    analyst = await browser_for(await shop.add_member(owner, "analyst"))
    page = await analyst.get("/dashboard/settings")
    assert page.status_code == 200
    assert 'id="save-profile"' not in page.text
    assert 'id="save-wallet"' not in page.text
    refused = await analyst.http.post(
        "/dashboard/settings/profile", data={"csrf": csrf_of(page.text), "name": "Taken"}
    )
    assert "Votre rôle ne le permet pas" in await flash_of(analyst, refused)
    # Their own e-mail choices are theirs to make.
    mine = await analyst.post_form(
        "/dashboard/settings", "/dashboard/settings/notifications", notify_payout_paid="on"
    )
    assert "Vos préférences d'e-mail sont enregistrées." in await flash_of(analyst, mine)
    assert "Stays" in (await analyst.get("/dashboard")).text


async def test_payout_paid_and_failed_are_e_mailed_to_who_wants_them(
    stack: Stack, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup(email=unique_email("payouts"))
    analyst = await shop.add_member(owner, "analyst")  # payout notices are off by default
    await fund(stack.state.db, owner.merchant_id, 100_000)
    paid = await create_payout(shop.http, owner.secret_key, amount=6000)
    failed = await create_payout(
        shop.http, owner.secret_key, amount=4000, destination={"phone": "+237670000002"}
    )
    assert paid.status_code == 200, paid.text
    assert failed.status_code == 200, failed.text
    browser = await browser_for()
    await wait_for_mail(browser, owner.email, count=2)
    page = html.unescape(
        (await browser.get("/dashboard/dev/mail", params={"to": owner.email})).text
    )
    assert "[mode test] Retrait de 6\u202f000\u00a0FCFA versé" in page
    assert "[mode test] Le retrait de 4\u202f000\u00a0FCFA a échoué" in page
    assert await mails_to(browser, analyst.email) == []
    async with stack.state.db.platform_transaction() as session:
        kinds = (
            await session.execute(
                text(
                    "SELECT kind, sent_at IS NOT NULL FROM notifications"
                    " WHERE merchant_id = :m ORDER BY kind"
                ),
                {"m": owner.merchant_id},
            )
        ).all()
    assert [tuple(row) for row in kinds] == [("payout.failed", True), ("payout.paid", True)]
    # The settings page offers the wallets payouts went to.
    settings_page = await (await browser_for(owner)).get("/dashboard/settings")
    assert paid.json()["destination"]["phone"] in settings_page.text
    assert failed.json()["destination"]["phone"] in settings_page.text


async def test_a_disabled_webhook_endpoint_is_e_mailed(
    stack: Stack, shop: Api, browser_for: Any
) -> None:
    owner = await shop.signup(email=unique_email("hooks"))
    developer = await shop.add_member(owner, "developer")
    response = await shop.http.post(
        "/v1/webhook_endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"]},
        headers=owner.key_headers,
    )
    assert response.status_code == 200, response.text
    # The developer turned this notice off; the owner keeps the default (on).
    async with stack.state.db.platform_transaction() as session:
        await session.execute(
            text("UPDATE merchant_members SET notify_webhook_disabled = false WHERE user_id = :u"),
            {"u": developer.user_id},
        )
        await webhook_delivery.disable(
            session, response.json()["id"], reason="gone", now=dt.datetime.now(dt.UTC)
        )
    browser = await browser_for()
    await wait_for_mail(browser, owner.email)
    page = html.unescape(
        (await browser.get("/dashboard/dev/mail", params={"to": owner.email})).text
    )
    assert "[mode test] Votre endpoint webhook a été désactivé" in page
    assert await mails_to(browser, developer.email) == []
