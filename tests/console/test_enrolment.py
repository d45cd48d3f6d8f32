"""Staff who belong to no merchant set up two-factor sign-in from the console itself
(`/console/security`, docs/going-live.md "Second factor"): every other console page sends them
there, a POST is refused and changes nothing, the page is theirs alone (not a merchant's user's),
its forms need their CSRF token, and once a code confirms the key the console opens."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pyotp

from tests.console.test_console import kyc_submitted
from tests.dashboard.conftest import TOTP_SECRETS, csrf_of
from tests.helpers import Api

BrowserFor = Callable[..., Awaitable[Any]]
StaffMember = Callable[..., Awaitable[str]]
KEY = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')
CODES = re.compile(r"<li><code>([a-z0-9-]{14})</code></li>")


async def test_staff_without_a_merchant_enrols_then_opens_the_console(
    shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    account, _ids = await kyc_submitted(shop)
    m = account.merchant_id
    email = await staff_member("compliance", with_two_factor=False)
    staff = await browser_for()
    signed = await staff.sign_in(email)
    assert signed.headers["location"] == "/dashboard"  # no code asked: none set up yet
    for path in ("/console", "/console/merchants", f"/console/merchants/{m}", "/console/ledger"):
        sent = await staff.get(path)
        assert sent.status_code == 303, path
        assert sent.headers["location"] == "/console/security", path
    page = await staff.get("/console/security")
    assert page.status_code == 200
    assert 'id="two-factor-needed"' in page.text
    assert 'id="enable-two-factor"' in page.text
    assert 'href="/console/merchants"' not in page.text  # no console menu until enrolled
    assert email in page.text  # the console's band, not a merchant's dashboard
    token = csrf_of(page.text)

    # Before enrolment, a console POST is refused (even with a good token) and changes nothing.
    refused = await staff.http.post(
        f"/console/merchants/{m}/decision",
        data={"csrf": token, "action": "approve", "reason": "ok"},
    )
    assert refused.status_code == 403
    assert 'href="/console/security"' in refused.text
    kyc = await shop.http.get(f"/v1/merchants/{m}/kyc", headers=account.user_headers)
    assert kyc.json()["status"] == "submitted"

    # No token, a wrong token: refused, no key made.
    for data in ({}, {"csrf": "forged"}):
        forged = await staff.http.post("/console/security/two-factor/start", data=data)
        assert forged.status_code == 303
        assert forged.headers["location"] == "/console/security"
        again = await staff.get("/console/security")
        assert 'id="enable-two-factor"' in again.text
        assert 'id="totp-secret"' not in again.text

    started = await staff.http.post("/console/security/two-factor/start", data={"csrf": token})
    assert started.status_code == 303
    assert started.headers["location"] == "/console/security#confirm"
    page = await staff.get("/console/security")
    assert '<img class="qr" src="data:image/svg+xml' in page.text
    found = KEY.search(page.text)
    assert found, page.text
    secret = found.group(1).replace(" ", "")
    totp = pyotp.TOTP(secret)
    step = int(time.time()) // 30
    # Still locked while the key waits for its code.
    assert (await staff.get("/console")).headers["location"] == "/console/security"

    wrong = await staff.post_form(
        "/console/security",
        "/console/security/two-factor/confirm",
        code=f"{(int(totp.at(step * 30)) + 1) % 1_000_000:06d}",
    )
    assert wrong.status_code == 303
    shown = await staff.get("/console/security")
    assert 'id="totp-secret"' in shown.text
    assert 'role="alert"' in shown.text
    assert (await staff.get("/console")).status_code == 303

    confirmed = await staff.post_form(
        "/console/security", "/console/security/two-factor/confirm", code=totp.at((step - 1) * 30)
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = CODES.findall(confirmed.text)
    assert len(codes) == 10
    assert 'href="/console" id="codes-saved"' in confirmed.text
    assert (await staff.get("/console")).status_code == 200
    assert (await staff.get(f"/console/merchants/{m}")).status_code == 200

    # Enrolled: the page shows the state; new recovery codes need a current code.
    page = await staff.get("/console/security")
    assert 'id="two-factor-state"' in page.text
    assert "Unused recovery codes: 10" in page.text or "codes de secours" in page.text
    assert 'id="enable-two-factor"' not in page.text
    assert 'href="/console/merchants"' in page.text
    no_code = await staff.post_form(
        "/console/security", "/console/security/recovery-codes", code="000000"
    )
    assert no_code.status_code == 303
    fresh = await staff.post_form(
        "/console/security", "/console/security/recovery-codes", code=totp.at(step * 30)
    )
    assert fresh.status_code == 200, fresh.text
    assert len(set(CODES.findall(fresh.text)) - set(codes)) == 10

    # Signing out, then in again: the code is asked for now, and the console opens.
    out = await staff.post_form("/console/security", "/console/logout")
    assert out.status_code == 303
    assert out.headers["location"] == "/dashboard/login"
    assert (await staff.get("/console")).headers["location"].startswith("/dashboard/login")
    TOTP_SECRETS[email] = [secret, step + 1]
    again = await browser_for()
    signed = await again.sign_in(email)
    assert signed.status_code == 303
    assert (await again.get("/console")).status_code == 200


async def test_the_enrolment_page_is_for_staff_only(
    shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    account = await shop.signup(business="Boutique Ngono")
    merchant = await browser_for(account)
    refused = await merchant.get("/console/security")
    assert refused.status_code == 403
    token = csrf_of((await merchant.get("/dashboard/security")).text)
    for path in (
        "/console/security/two-factor/start",
        "/console/security/two-factor/confirm",
        "/console/security/recovery-codes",
        "/console/logout",
    ):
        posted = await merchant.http.post(path, data={"csrf": token, "code": "123456"})
        assert posted.status_code == 403, path
    # The merchant's user is still signed in, with no key started.
    page = await merchant.get("/dashboard/security")
    assert page.status_code == 200
    assert 'id="totp-secret"' not in page.text
    anonymous = await browser_for()
    sent = await anonymous.get("/console/security")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/dashboard/login?next=/console/security"
    # Staff who have a second factor see the console's menu and their state there.
    enrolled = await browser_for()
    await enrolled.sign_in(await staff_member("support"))
    page = await enrolled.get("/console/security")
    assert page.status_code == 200
    assert 'action="/console/security/recovery-codes"' in page.text
    assert 'href="/console/merchants"' in page.text
