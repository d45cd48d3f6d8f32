"""Team, Settings, password reset, invitations and the local mailbox (docs/dashboard.md, "Team",
"Settings", "E-mail"). The team's pages declare the team API's permissions (`team:read`,
`team:write`) and call the same `merchants.service` methods as `/v1/merchants/{id}/members`.

Pages that a person without a membership opens (forgot password, a reset link, an invitation
link) run on the platform role's session (`DashboardPublicRoute`): the link's token is what
finds its row, in no merchant's scope; each such page reads only the row its token names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import UploadFile
from starlette.responses import Response

from mboa.config import Environment
from mboa.dashboard.exceptions import FormInvalid, PageNotFound, SignInRequired
from mboa.dashboard.pages import PREFIX, DashboardRoute, _flash, _flash_response, _page
from mboa.dashboard.signin import (
    ACCOUNT_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    Member,
    Viewer,
    checked_form,
    choose_locale,
    csrf_token,
    session_cookie,
    set_cookie,
    signed_in_user,
)
from mboa.dashboard.submits import claim_form, new_form_key
from mboa.exceptions import MboaError
from mboa.http_security import client_address
from mboa.kit.crypto import sha256_hex
from mboa.mail.backends import mailbox_message, mailbox_messages
from mboa.merchants.service import merchant as merchant_service
from mboa.models import Invitation, MemberRole
from mboa.payouts.service import payout as payout_service
from mboa.providers.phone import resolve_provider
from mboa.routing import SessionDep
from mboa.state import get_state
from mboa.storage.exceptions import FileEmpty
from mboa.users.repository import UserRepository
from mboa.users.service import user as user_service
from mboa.web.i18n import LOCALES

ROLES = tuple(role.value for role in MemberRole)
PREFERENCES = ("notify_payout_paid", "notify_payout_failed", "notify_webhook_disabled")


def _back(path: str) -> str:
    """The page a refused post returns to (also when the refusal comes before the endpoint
    runs: a role without the permission)."""
    for section in (f"{PREFIX}/team", f"{PREFIX}/settings"):
        if path.startswith(section + "/"):
            return section
    if path.startswith(f"{PREFIX}/invitations/"):
        return "/".join(path.split("/")[:4])
    return path


class TeamRoute(DashboardRoute):
    """The team's and the settings' pages: a refused post goes back to its page."""

    def error_response(self, request: Request, exc: MboaError) -> Response:
        if request.method == "POST" and getattr(request.state, "back", None) is None:
            request.state.back = _back(request.url.path)
        return super().error_response(request, exc)


class DashboardPublicRoute(TeamRoute):
    """A page opened from an e-mailed link, by someone who may belong to no merchant yet: the
    platform role's session (the token finds the row)."""

    def sessions(self, request: Request) -> async_sessionmaker[AsyncSession]:
        return get_state(request).db.platform_sessions


router = APIRouter(prefix=PREFIX, route_class=TeamRoute, include_in_schema=False)
public_router = APIRouter(prefix=PREFIX, route_class=DashboardPublicRoute, include_in_schema=False)

TeamReader = Annotated[Viewer, Depends(Member("team:read"))]
TeamWriter = Annotated[Viewer, Depends(Member("team:write"))]
AccountReader = Annotated[Viewer, Depends(Member("account:read"))]
AccountWriter = Annotated[Viewer, Depends(Member("account:write"))]
WalletWriter = Annotated[Viewer, Depends(Member("payouts:write"))]


def _locale(request: Request) -> str:
    asked = request.query_params.get("lang")
    return asked if asked in LOCALES else choose_locale(request, None)


def _session_id(viewer: Viewer) -> str:
    assert viewer.subject.session_id is not None
    return viewer.subject.session_id


def _user_id(viewer: Viewer) -> str:
    assert viewer.subject.user_id is not None
    return viewer.subject.user_id


def _role(value: str | None) -> MemberRole:
    if value not in ROLES:
        raise FormInvalid("Choose a role.", param="role")
    return MemberRole(value)


def _invitation_ttl(request: Request) -> dt.timedelta:
    return dt.timedelta(seconds=get_state(request).settings.mail.invitation_ttl_seconds)


# -- team ----------------------------------------------------------------------------------------


@router.get("/team")
async def team(request: Request, viewer: TeamReader, session: SessionDep) -> Response:
    """The members, their roles, pending invitations; invite (team:write)."""
    merchant_id = viewer.subject.tenant.merchant_id
    members = await merchant_service.members_with_users(session, merchant_id)
    invitations = await merchant_service.pending_invitations(session, merchant_id)
    is_owner = viewer.subject.role is MemberRole.owner
    return _page(
        request,
        "team.html",
        viewer.locale,
        viewer=viewer,
        members=members,
        invitations=invitations,
        roles=[r for r in ROLES if is_owner or r != "owner"],
        is_owner=is_owner,
        can_write=viewer.can("team:write"),
        typed=_flash(request),
        form_key=new_form_key(),
    )


@router.post("/team/invitations")
async def invite(request: Request, viewer: TeamWriter, session: SessionDep) -> Response:
    """Invite by e-mail with a role (only an owner may invite an owner)."""
    request.state.back = f"{PREFIX}/team"
    fields = await checked_form(request, _session_id(viewer))
    email = (fields.get("email") or "").strip()[:320]
    request.state.typed = {"email": email, "role": fields.get("role", "")}
    # A second post of the same form sends no second e-mail (`submits`).
    await claim_form(request, viewer, fields, ("email", "role"))
    await merchant_service.invite(
        session,
        merchant_id=viewer.subject.tenant.merchant_id,
        email=email,
        role=_role(fields.get("role")),
        actor_role=viewer.subject.role,
        invited_by=_user_id(viewer),
        inviter_name=viewer.name or viewer.email,
        locale=viewer.locale,
        ttl=_invitation_ttl(request),
    )
    return _flash_response(request, f"{PREFIX}/team", {"notice": "invitation_sent"})


async def _posted_invitation(
    request: Request, viewer: Viewer, session: AsyncSession, invitation_id: str
) -> Invitation:
    """A post about one of the merchant's invitations (revoke, resend): its form checked, the
    invitation found (404 for another merchant's)."""
    request.state.back = f"{PREFIX}/team"
    await checked_form(request, _session_id(viewer))
    return await merchant_service.get_invitation(
        session, viewer.subject.tenant.merchant_id, invitation_id
    )


@router.post("/team/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    request: Request, invitation_id: str, viewer: TeamWriter, session: SessionDep
) -> Response:
    """Revoke a pending invitation: its link stops working."""
    found = await _posted_invitation(request, viewer, session, invitation_id)
    await merchant_service.revoke_invitation(session, found, actor_role=viewer.subject.role)
    return _flash_response(request, f"{PREFIX}/team", {"notice": "invitation_revoked"})


@router.post("/team/invitations/{invitation_id}/resend")
async def resend_invitation(
    request: Request, invitation_id: str, viewer: TeamWriter, session: SessionDep
) -> Response:
    """Send the invitation again (a new link; the previous one stops working)."""
    found = await _posted_invitation(request, viewer, session, invitation_id)
    await merchant_service.resend_invitation(
        session,
        found,
        actor_role=viewer.subject.role,
        inviter_name=viewer.name or viewer.email,
        locale=viewer.locale,
        ttl=_invitation_ttl(request),
    )
    return _flash_response(request, f"{PREFIX}/team", {"notice": "invitation_resent"})


@router.post("/team/members/{member_id}/role")
async def change_role(
    request: Request, member_id: str, viewer: TeamWriter, session: SessionDep
) -> Response:
    """Change a member's role (`POST /v1/merchants/{id}/members/{member}`'s service)."""
    request.state.back = f"{PREFIX}/team"
    fields = await checked_form(request, _session_id(viewer))
    member = await merchant_service.get_member(
        session, viewer.subject.tenant.merchant_id, member_id
    )
    await merchant_service.change_role(
        session, member=member, role=_role(fields.get("role")), actor_role=viewer.subject.role
    )
    return _flash_response(request, f"{PREFIX}/team", {"notice": "role_changed"})


@router.get("/team/members/{member_id}/remove")
async def confirm_remove(
    request: Request, member_id: str, viewer: TeamWriter, session: SessionDep
) -> Response:
    """Confirm a removal, the member's name and email said again."""
    member = await merchant_service.get_member(
        session, viewer.subject.tenant.merchant_id, member_id
    )
    rows = await merchant_service.members_with_users(session, viewer.subject.tenant.merchant_id)
    email, name = next((e, n) for m, e, n in rows if m.id == member.id)
    return _page(
        request,
        "confirm_remove.html",
        viewer.locale,
        viewer=viewer,
        member=member,
        email=email,
        name=name,
    )


@router.post("/team/members/{member_id}/remove")
async def remove_member(
    request: Request, member_id: str, viewer: TeamWriter, session: SessionDep
) -> Response:
    """Remove a member (the last owner cannot be removed)."""
    request.state.back = f"{PREFIX}/team"
    await checked_form(request, _session_id(viewer))
    member = await merchant_service.get_member(
        session, viewer.subject.tenant.merchant_id, member_id
    )
    await merchant_service.remove_member(session, member=member, actor_role=viewer.subject.role)
    return _flash_response(request, f"{PREFIX}/team", {"notice": "member_removed"})


# -- settings ------------------------------------------------------------------------------------


@router.get("/settings")
async def settings(request: Request, viewer: AccountReader, session: SessionDep) -> Response:
    """Business profile, default payout wallet, the member's e-mail preferences, language."""
    found = await merchant_service.get(session, viewer.subject.tenant.merchant_id)
    me = await merchant_service.get_member_of_user(
        session, viewer.subject.tenant.merchant_id, _user_id(viewer)
    )
    wallets = (
        await payout_service.saved_wallets(session, viewer.subject.tenant)
        if viewer.can("payouts:write")
        else []
    )
    state = get_state(request)
    return _page(
        request,
        "settings.html",
        viewer.locale,
        viewer=viewer,
        merchant=found,
        # A path on this origin (the page's CSP allows images from 'self'), signed as on the
        # payment pages.
        logo_url=merchant_service.logo_url(state.url_signer, state.settings.storage, "", found),
        max_logo_mb=state.settings.storage.max_logo_bytes // (1024 * 1024),
        me=me,
        wallets=wallets,
        preferences=PREFERENCES,
        defaults=merchant_service.default_preferences(me.role),
        typed=_flash(request),
    )


@router.post("/settings/profile")
async def save_profile(request: Request, viewer: AccountWriter, session: SessionDep) -> Response:
    """The business profile: name, support e-mail and phone."""
    request.state.back = f"{PREFIX}/settings"
    fields = await checked_form(request, _session_id(viewer))
    name = (fields.get("name") or "").strip()
    if not name or len(name) > 200:
        raise FormInvalid("The business name is required.", param="name")
    phone = (fields.get("support_phone") or "").strip()[:20]
    email = (fields.get("support_email") or "").strip()[:320]
    request.state.typed = {"name": name, "support_email": email, "support_phone": phone}
    found = await merchant_service.get(session, viewer.subject.tenant.merchant_id)
    await merchant_service.update_profile(
        session, found, name=name, support_email=email or None, support_phone=phone or None
    )
    return _flash_response(request, f"{PREFIX}/settings", {"notice": "profile_saved"})


@router.post("/settings/logo")
async def upload_logo(request: Request, viewer: AccountWriter, session: SessionDep) -> Response:
    """The logo shown on the payment pages and receipts (multipart `file`; owners and admins,
    as `POST /v1/merchants/{id}/logo`, whose service checks, re-encodes and stores it)."""
    request.state.back = f"{PREFIX}/settings"
    await checked_form(request, _session_id(viewer))
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile):
        raise FileEmpty("Choose an image.", param="file")
    state = get_state(request)
    data = await upload.read(state.settings.storage.max_logo_bytes + 1)
    if not data:
        raise FileEmpty("The file is empty.", param="file")
    found = await merchant_service.get(session, viewer.subject.tenant.merchant_id)
    await merchant_service.set_logo(session, state.storage, state.settings.storage, found, data)
    return _flash_response(request, f"{PREFIX}/settings", {"notice": "logo_saved"})


@router.post("/settings/logo/remove")
async def remove_logo(request: Request, viewer: AccountWriter, session: SessionDep) -> Response:
    """No logo any more (`DELETE /v1/merchants/{id}/logo`'s service)."""
    request.state.back = f"{PREFIX}/settings"
    await checked_form(request, _session_id(viewer))
    found = await merchant_service.get(session, viewer.subject.tenant.merchant_id)
    await merchant_service.remove_logo(session, get_state(request).storage, found)
    return _flash_response(request, f"{PREFIX}/settings", {"notice": "logo_removed"})


@router.post("/settings/payout-wallet")
async def save_wallet(request: Request, viewer: WalletWriter, session: SessionDep) -> Response:
    """The default payout wallet: a saved one (a previous payout's) or a new number."""
    request.state.back = f"{PREFIX}/settings"
    fields = await checked_form(request, _session_id(viewer))
    raw = (fields.get("phone") or "").strip() or (fields.get("saved") or "").strip()
    provider = fields.get("provider") or None
    request.state.typed = {"phone": fields.get("phone", "")[:20]}
    if not raw:
        raise FormInvalid("Enter the wallet's number.", param="phone")
    phone, chosen = resolve_provider(raw[:20], provider, allow_sandbox=not viewer.subject.livemode)
    found = await merchant_service.get(session, viewer.subject.tenant.merchant_id)
    await merchant_service.set_payout_wallet(
        session, found, phone=phone.e164, provider=chosen.value
    )
    return _flash_response(request, f"{PREFIX}/settings", {"notice": "wallet_saved"})


@router.post("/settings/notifications")
async def save_preferences(
    request: Request, viewer: AccountReader, session: SessionDep
) -> Response:
    """The member's own e-mail preferences (each member chooses theirs)."""
    request.state.back = f"{PREFIX}/settings"
    fields = await checked_form(request, _session_id(viewer))
    me = await merchant_service.get_member_of_user(
        session, viewer.subject.tenant.merchant_id, _user_id(viewer)
    )
    await merchant_service.set_preferences(
        session, me, {name: fields.get(name) == "on" for name in PREFERENCES}
    )
    return _flash_response(request, f"{PREFIX}/settings", {"notice": "preferences_saved"})


# -- password reset ------------------------------------------------------------------------------


@public_router.get("/password/forgot")
async def forgot_page(request: Request) -> Response:
    """Ask for a reset link."""
    return _page(
        request,
        "forgot.html",
        _locale(request),
        viewer=None,
        csrf=csrf_token(request, "password"),
        email=_flash(request).get("email", ""),
    )


@public_router.post("/password/forgot")
async def forgot(request: Request, session: SessionDep) -> Response:
    """E-mail a reset link if the address is known; the same answer either way."""
    request.state.back = f"{PREFIX}/password/forgot"
    fields = await checked_form(request, "password")
    email = (fields.get("email") or "").strip()[:320]
    state = get_state(request)
    limiter = state.rate_limiter
    await limiter.hit_anonymous(client_address(request), "password_reset")
    await limiter.hit_anonymous(sha256_hex(email.lower()), "password_reset_email")
    await user_service.request_password_reset(
        session,
        email=email,
        ttl=dt.timedelta(seconds=state.settings.mail.reset_ttl_seconds),
    )
    return _flash_response(request, f"{PREFIX}/password/forgot", {"notice": "reset_sent"})


@public_router.get("/password/reset/{token}")
async def reset_page(request: Request, token: str, session: SessionDep) -> Response:
    """Choose a new password (the link must still be valid)."""
    await user_service.password_reset(session, token)
    return _page(
        request,
        "reset.html",
        _locale(request),
        viewer=None,
        csrf=csrf_token(request, "password"),
        token=token,
    )


@public_router.post("/password/reset/{token}")
async def reset(request: Request, token: str, session: SessionDep) -> Response:
    """Set the new password; every login session of the user ends."""
    request.state.back = f"{PREFIX}/password/reset/{token}"
    fields = await checked_form(request, "password")
    state = get_state(request)
    await state.rate_limiter.hit_anonymous(client_address(request), "password_reset")
    found = await user_service.reset_password(
        session, token=token, password=fields.get("password") or "", settings=state.settings.auth
    )
    response = _flash_response(
        request, f"{PREFIX}/login", {"notice": "password_changed", "email": found.email}
    )
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- invitations ---------------------------------------------------------------------------------


async def _signed_in(request: Request, session: AsyncSession) -> tuple[str, str, str] | None:
    """(user id, login session id, email) of this browser's live session, if any."""
    try:
        signed = await signed_in_user(request, session)
    except SignInRequired:
        return None
    found, _ = await user_service.profile(session, signed.user_id)
    return found.id, signed.session_id, found.email


@public_router.get("/invitations/{token}")
async def invitation_page(request: Request, token: str, session: SessionDep) -> Response:
    """Accept (signed in as the invited address), sign in, or sign up (a new address)."""
    found, merchant_name = await merchant_service.invitation_by_token(session, token)
    signed = await _signed_in(request, session)
    known = await UserRepository.from_session(session).get_by_email(found.email) is not None
    return _page(
        request,
        "invitation.html",
        _locale(request),
        viewer=None,
        csrf=csrf_token(request, "invitation"),
        token=token,
        invitation=found,
        merchant_name=merchant_name,
        signed_in_as=signed[2] if signed else None,
        known=known,
        typed=_flash(request),
    )


def _joined(request: Request, merchant_id: str) -> Response:
    response = _flash_response(request, PREFIX, {"notice": "invitation_accepted"})
    set_cookie(request, response, ACCOUNT_COOKIE, merchant_id, max_age=365 * 86400)
    return response


@public_router.post("/invitations/{token}/accept")
async def accept(request: Request, token: str, session: SessionDep) -> Response:
    """Join the team as the signed-in user (the invited address)."""
    request.state.back = f"{PREFIX}/invitations/{token}"
    await checked_form(request, "invitation")
    signed = await _signed_in(request, session)
    if signed is None:
        raise SignInRequired("Sign in first.")
    found, _ = await merchant_service.invitation_by_token(session, token, lock=True)
    await merchant_service.accept_invitation(session, found, user_id=signed[0], email=signed[2])
    return _joined(request, found.merchant_id)


@public_router.post("/invitations/{token}/signup")
async def signup_and_accept(request: Request, token: str, session: SessionDep) -> Response:
    """Create the invited user (name, password), sign them in and join the team."""
    request.state.back = f"{PREFIX}/invitations/{token}"
    fields = await checked_form(request, "invitation")
    name = (fields.get("name") or "").strip()[:200]
    request.state.typed = {"name": name}
    state = get_state(request)
    await state.rate_limiter.hit_anonymous(client_address(request), "signup")
    found, _ = await merchant_service.invitation_by_token(session, token, lock=True)
    locale = _locale(request)
    issued = await user_service.signup_invited(
        session,
        email=found.email,
        password=fields.get("password") or "",
        name=name or None,
        locale=locale,
        settings=state.settings.auth,
        jwt_secret=state.jwt_secret,
    )
    await merchant_service.accept_invitation(
        session, found, user_id=issued.user.id, email=issued.user.email
    )
    response = _joined(request, found.merchant_id)
    ttl = int((issued.refresh_expires_at - dt.datetime.now(dt.UTC)).total_seconds())
    cookie = session_cookie(
        state.jwt_secret, user_id=issued.user.id, session_id=issued.session_id, ttl_seconds=ttl
    )
    set_cookie(request, response, SESSION_COOKIE, cookie, max_age=ttl)
    set_cookie(request, response, LANG_COOKIE, locale, max_age=365 * 86400)
    return response


# -- the local mailbox (development and tests only) ---------------------------------------------


def _mailbox(request: Request) -> Path:
    settings = get_state(request).settings
    if settings.mail_backend != "mailbox" or settings.env is Environment.production:
        raise PageNotFound("There is no local mailbox here.")
    return settings.mailbox_dir


@public_router.get("/dev/mail")
async def mailbox(request: Request) -> Response:
    """The messages the local mailbox received, newest first (never in production)."""
    directory = _mailbox(request)
    wanted = (request.query_params.get("to") or "").lower()
    messages = [m for m in mailbox_messages(directory) if wanted in m.to.lower()]
    return _page(request, "dev_mail.html", _locale(request), viewer=None, messages=messages)


@public_router.get("/dev/mail/{message_id}")
async def mailbox_one(request: Request, message_id: str) -> Response:
    """One message: its text and its links."""
    found = mailbox_message(_mailbox(request), message_id)
    if found is None:
        raise PageNotFound("No such message.")
    links = [word for word in found.text.split() if word.startswith(("http://", "https://"))]
    return _page(
        request, "dev_mail_message.html", _locale(request), viewer=None, message=found, links=links
    )
