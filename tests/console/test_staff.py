"""Staff management in the console, `/console/staff` (docs/going-live.md "Staff"): a superadmin
lists staff, grants a role to an existing user (who then enrols a second factor and opens the
console), changes it and revokes it (their sessions end at once); every other staff role and
merchant users get 403 on the page and every POST; a superadmin never changes themself, the
last superadmin stays; each change is an audit row."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pyotp
import pytest
from markupsafe import escape
from sqlalchemy import select, update

from mboa.console.exceptions import LastSuperadmin
from mboa.console.staff_service import staff_service
from mboa.dashboard.messages import error_message
from mboa.models import AuditLog, User, UserSession
from mboa.users.two_factor import totp_box, two_factor
from tests.checkout.conftest import Stack
from tests.dashboard.conftest import TOTP_SECRETS, csrf_of
from tests.helpers import Api

BrowserFor = Callable[..., Awaitable[Any]]
StaffMember = Callable[..., Awaitable[str]]


async def user_by_email(stack: Stack, email: str) -> User:
    async with stack.state.db.platform_transaction() as session:
        found = (
            await session.execute(select(User).where(User.email == email.lower()))
        ).scalar_one()
        return found


async def audit_rows(stack: Stack, user_id: str) -> list[AuditLog]:
    async with stack.state.db.platform_transaction() as session:
        result = await session.execute(
            select(AuditLog)
            .where(AuditLog.target_type == "user", AuditLog.target_id == user_id)
            .order_by(AuditLog.seq)
        )
        return list(result.scalars().all())


async def enrol(stack: Stack, user_id: str, email: str) -> None:
    """Two-factor sign-in turned on, as the console's enrolment page does."""
    box = totp_box(stack.state.settings)
    async with stack.state.db.platform_transaction() as session:
        secret = await two_factor.start(session, user_id, box)
        step = int(time.time()) // 30
        await two_factor.confirm(session, user_id, pyotp.TOTP(secret).at((step - 1) * 30), box)
    TOTP_SECRETS[email] = [secret, step]


def shows_error(html: str, code: str) -> bool:
    return str(escape(error_message(code, "fr"))) in html


async def test_superadmin_grants_changes_and_revokes_staff(
    stack: Stack, shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    admin_email = await staff_member("superadmin")
    admin = await browser_for()
    await admin.sign_in(admin_email)
    admin_id = (await user_by_email(stack, admin_email)).id
    page = await admin.get("/console/staff")
    assert page.status_code == 200
    assert 'href="/console/staff"' in page.text  # the menu's link, for superadmins
    assert admin_email in page.text
    assert f'href="/console/staff/{admin_id}/revoke"' not in page.text  # not themself
    assert 'id="grant-form"' in page.text

    account = await shop.signup(business="Future staff")
    uid = account.user_id
    # No CSRF token: refused, nothing granted.
    forged = await admin.http.post("/console/staff", data={"email": account.email, "role": "x"})
    assert forged.status_code == 303
    assert (await user_by_email(stack, account.email)).staff_role is None

    granted = await admin.post_form(
        "/console/staff", "/console/staff", email=account.email.upper(), role="compliance"
    )
    assert granted.status_code == 303
    assert granted.headers["location"] == "/console/staff"
    page = await admin.get("/console/staff")
    assert f'id="staff-{uid}" data-role="compliance"' in page.text
    user = await user_by_email(stack, account.email)
    assert (user.staff_role, user.is_platform_admin) == ("compliance", False)

    # The new staff member signs in (no second factor yet): the console asks for one first.
    grantee = await browser_for()
    await grantee.sign_in(account.email)
    sent = await grantee.get("/console")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/console/security"
    await enrol(stack, uid, account.email)
    assert (await grantee.get("/console")).status_code == 200
    assert (await grantee.get("/console/merchants")).status_code == 200
    assert (await grantee.get("/console/staff")).status_code == 403

    changed = await admin.post_form(
        "/console/staff", f"/console/staff/{uid}/role", role="superadmin"
    )
    assert changed.status_code == 303
    user = await user_by_email(stack, account.email)
    assert (user.staff_role, user.is_platform_admin) == ("superadmin", True)
    assert (await grantee.get("/console/staff")).status_code == 200
    changed = await admin.post_form("/console/staff", f"/console/staff/{uid}/role", role="finance")
    assert changed.status_code == 303
    user = await user_by_email(stack, account.email)
    assert (user.staff_role, user.is_platform_admin) == ("finance", False)

    assert f'href="/console/staff/{uid}/revoke"' in (await admin.get("/console/staff")).text
    confirm = await admin.get(f"/console/staff/{uid}/revoke")
    assert confirm.status_code == 200
    assert 'id="confirm-revoke"' in confirm.text
    assert account.email in confirm.text
    assert (await user_by_email(stack, account.email)).staff_role == "finance"  # asked only
    revoked = await admin.post_form(f"/console/staff/{uid}/revoke", f"/console/staff/{uid}/revoke")
    assert revoked.status_code == 303
    page = await admin.get("/console/staff")
    assert f'id="staff-{uid}"' not in page.text
    user = await user_by_email(stack, account.email)
    assert (user.staff_role, user.is_platform_admin) == (None, False)
    # Their next console request finds the session ended: the sign-in page.
    after = await grantee.get("/console")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/dashboard/login")
    async with stack.state.db.platform_transaction() as session:
        live = await session.execute(
            select(UserSession).where(UserSession.user_id == uid, UserSession.revoked_at.is_(None))
        )
        assert live.scalars().all() == []
    # Signing in again: a merchant user, no console.
    again = await browser_for()
    await again.sign_in(account.email)
    assert (await again.get("/console")).status_code == 403

    rows = await audit_rows(stack, uid)
    staff_rows = [r for r in rows if r.action.startswith("staff.")]
    assert [(r.action, r.before, r.after) for r in staff_rows] == [
        ("staff.granted", {"role": None}, {"role": "compliance", "email": account.email}),
        ("staff.role_changed", {"role": "compliance"}, {"role": "superadmin"}),
        ("staff.role_changed", {"role": "superadmin"}, {"role": "finance"}),
        ("staff.revoked", {"role": "finance"}, {"role": None}),
    ]
    assert {(r.actor_type, r.actor_id, r.merchant_id) for r in staff_rows} == {
        ("staff", admin_id, None)
    }
    assert all(r.request_id for r in staff_rows)


async def test_grant_errors_change_nothing(
    stack: Stack, shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    admin = await browser_for()
    await admin.sign_in(await staff_member("superadmin"))
    account = await shop.signup()
    other_staff = await staff_member("support")
    cases = [
        ({"email": "nobody-here@example.cm", "role": "support"}, "staff_user_not_found"),
        ({"email": other_staff, "role": "finance"}, "staff_already_granted"),
        ({"email": account.email, "role": "owner"}, "parameter_invalid"),
        ({"email": "", "role": "support"}, "email_invalid"),
    ]
    for fields, code in cases:
        sent = await admin.post_form("/console/staff", "/console/staff", **fields)
        assert sent.status_code == 303, fields
        assert sent.headers["location"] == "/console/staff"
        page = await admin.get("/console/staff")
        assert shows_error(page.text, code), (code, page.text[:3000])
    assert (await user_by_email(stack, account.email)).staff_role is None
    assert (await user_by_email(stack, other_staff)).staff_role == "support"
    # Changing or revoking someone who is not staff: an error, nothing written.
    for action, data in (("role", {"role": "finance"}), ("revoke", {})):
        sent = await admin.post_form(
            "/console/staff", f"/console/staff/{account.user_id}/{action}", **data
        )
        assert sent.status_code == 303
        assert shows_error((await admin.get("/console/staff")).text, "staff_member_not_found")
    assert (await admin.get(f"/console/staff/{account.user_id}/revoke")).status_code == 404
    assert (await user_by_email(stack, account.email)).staff_role is None
    assert [
        r for r in await audit_rows(stack, account.user_id) if r.action.startswith("staff.")
    ] == []


async def test_superadmin_cannot_change_or_revoke_themself(
    stack: Stack, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    email = await staff_member("superadmin")
    admin = await browser_for()
    await admin.sign_in(email)
    me = (await user_by_email(stack, email)).id
    page = await admin.get("/console/staff")
    assert f'action="/console/staff/{me}/role"' not in page.text
    assert f'href="/console/staff/{me}/revoke"' not in page.text
    assert (await admin.get(f"/console/staff/{me}/revoke")).status_code == 409
    for action, data in (("role", {"role": "support"}), ("revoke", {})):
        sent = await admin.post_form("/console/staff", f"/console/staff/{me}/{action}", **data)
        assert sent.status_code == 303
        assert shows_error((await admin.get("/console/staff")).text, "staff_self_change")
    user = await user_by_email(stack, email)
    assert (user.staff_role, user.is_platform_admin) == ("superadmin", True)
    assert (await admin.get("/console/staff")).status_code == 200
    changes = [r.action for r in await audit_rows(stack, me)]
    assert "staff.role_changed" not in changes
    assert "staff.revoked" not in changes


async def test_the_last_superadmin_stays(stack: Stack, staff_member: StaffMember) -> None:
    """With every other superadmin demoted (in a transaction rolled back after), neither a
    change of role nor a revocation can remove the last one."""
    last = (await user_by_email(stack, await staff_member("superadmin"))).id
    actor = (await user_by_email(stack, await staff_member("support"))).id
    other = (await user_by_email(stack, await staff_member("finance"))).id
    async with stack.state.db.platform_sessions() as session:
        await session.begin()
        await session.execute(
            update(User)
            .where(User.id != last, User.staff_role == "superadmin")
            .values(staff_role="support", is_platform_admin=False)
        )
        await session.execute(
            update(User)
            .where(User.id != last, User.staff_role.is_(None), User.is_platform_admin.is_(True))
            .values(is_platform_admin=False)
        )
        with pytest.raises(LastSuperadmin):
            await staff_service.revoke(session, actor_id=actor, user_id=last)
        with pytest.raises(LastSuperadmin):
            await staff_service.change_role(session, actor_id=actor, user_id=last, role="finance")
        # A second superadmin: now the first may go.
        await staff_service.change_role(session, actor_id=actor, user_id=other, role="superadmin")
        await staff_service.revoke(session, actor_id=actor, user_id=last)
        await session.rollback()
    async with stack.state.db.platform_transaction() as session:
        kept = await session.get(User, last)
        assert kept is not None
        assert kept.staff_role == "superadmin"


async def test_only_superadmins_manage_staff(
    stack: Stack, shop: Api, browser_for: BrowserFor, staff_member: StaffMember
) -> None:
    target_email = await staff_member("support")
    target = (await user_by_email(stack, target_email)).id
    account = await shop.signup()
    posts = [
        ("/console/staff", {"email": account.email, "role": "superadmin"}),
        (f"/console/staff/{target}/role", {"role": "superadmin"}),
        (f"/console/staff/{target}/revoke", {}),
    ]
    for role in ("support", "compliance", "finance"):
        browser = await browser_for()
        await browser.sign_in(await staff_member(role))
        home = await browser.get("/console/ledger")
        assert 'href="/console/staff"' not in home.text  # no menu link
        token = csrf_of(home.text)
        assert (await browser.get("/console/staff")).status_code == 403, role
        assert (await browser.get(f"/console/staff/{target}/revoke")).status_code == 403, role
        for path, data in posts:
            refused = await browser.http.post(path, data={"csrf": token, **data})
            assert refused.status_code == 403, (role, path)
    merchant = await browser_for(account)
    token = csrf_of((await merchant.get("/dashboard")).text)
    assert (await merchant.get("/console/staff")).status_code == 403
    assert (await merchant.get(f"/console/staff/{target}/revoke")).status_code == 403
    for path, data in posts:
        assert (await merchant.http.post(path, data={"csrf": token, **data})).status_code == 403
    anonymous = await browser_for()
    assert (
        (await anonymous.get("/console/staff"))
        .headers["location"]
        .startswith("/dashboard/login?next=/console/staff")
    )
    assert (await user_by_email(stack, account.email)).staff_role is None
    assert (await user_by_email(stack, target_email)).staff_role == "support"
