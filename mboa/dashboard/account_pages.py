"""The dashboard's account pages (docs/dashboard.md, "Sign-up" and "Two-factor sign-in"):
`/dashboard/signup` (a user and their sandbox merchant, as `POST /v1/auth/signup`, then signed
in), the sign-in's second step `/dashboard/login/two-factor` (a code after the password), and
`/dashboard/security` (every member, their own account: turn two-factor sign-in on with a QR
code and a confirming code, recovery codes shown once, new recovery codes, turn it off).

Codes are throttled per account whichever form they come through (`RateLimiter.check_two_factor`,
the same limit as `POST /v1/auth/login`'s `otp`), beside the per-address limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mboa.audit.service import audit
from mboa.dashboard.exceptions import FormInvalid, SignInAgain
from mboa.dashboard.pages import PREFIX, DashboardRoute, _flash, _flash_response, _page, _safe_next
from mboa.dashboard.signin import (
    ACCOUNT_COOKIE,
    LANG_COOKIE,
    MODE_COOKIE,
    PENDING_COOKIE,
    Member,
    Viewer,
    checked_form,
    choose_locale,
    csrf_token,
    pending_sign_in,
    set_cookie,
    start_browser_session,
)
from mboa.dashboard.two_factor_forms import (
    check_code_limits,
    code_attempt,
    grouped,
    qr_data_uri,
)
from mboa.exceptions import MboaError
from mboa.http_security import client_address
from mboa.routing import SessionDep
from mboa.state import get_state
from mboa.users.exceptions import TwoFactorCodeInvalid
from mboa.users.schemas import SignupRequest
from mboa.users.service import user as user_service
from mboa.users.two_factor import totp_box, two_factor
from mboa.web.i18n import LOCALES

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

AnyMember = Annotated[Viewer, Depends(Member(None))]
SIGNUP_FIELDS = ("name", "email", "business_name")


# -- sign-up -------------------------------------------------------------------------------------


@router.get("/signup")
async def signup_page(request: Request) -> Response:
    """The sign-up form: a user and their business (a sandbox merchant)."""
    typed = _flash(request)
    asked = request.query_params.get("lang")
    response = _page(
        request,
        "signup.html",
        asked if asked in LOCALES else choose_locale(request, None),
        viewer=None,
        csrf=csrf_token(request, "signup"),
        typed={name: str(typed.get(name, "")) for name in SIGNUP_FIELDS},
        param=typed.get("param"),
    )
    if asked in LOCALES:
        set_cookie(request, response, LANG_COOKIE, asked, max_age=365 * 86400)
    return response


@router.post("/signup")
async def signup(request: Request, session: SessionDep) -> Response:
    """Sign up as `POST /v1/auth/signup` does (its service, checks and limit), then signed in to
    the new merchant's dashboard, in test mode."""
    request.state.back = f"{PREFIX}/signup"
    fields = await checked_form(request, "signup")
    request.state.typed = {name: (fields.get(name) or "")[:320] for name in SIGNUP_FIELDS}
    state = get_state(request)
    await state.rate_limiter.hit_anonymous(client_address(request), "signup")
    try:
        body = SignupRequest.model_validate(
            {
                "email": fields.get("email") or "",
                "password": fields.get("password") or "",
                "name": (fields.get("name") or "").strip() or None,
                "business_name": fields.get("business_name") or "",
            }
        )
    except ValidationError as exc:
        param = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else None
        request.state.typed["param"] = param
        raise FormInvalid("The sign-up form is not complete.", param=param) from exc
    try:
        issued, merchant, _keys = await user_service.signup(
            session,
            email=body.email,
            password=body.password,
            name=body.name,
            business_name=body.business_name,
            settings=state.settings.auth,
            jwt_secret=state.jwt_secret,
        )
    except MboaError as exc:
        request.state.typed["param"] = exc.param
        raise
    response = RedirectResponse(PREFIX, status_code=303)
    start_browser_session(request, response, issued)
    set_cookie(request, response, ACCOUNT_COOKIE, merchant.id, max_age=365 * 86400)
    set_cookie(request, response, MODE_COOKIE, "test", max_age=365 * 86400)
    return response


# -- the sign-in's second step -------------------------------------------------------------------


@router.get("/login/two-factor")
async def two_factor_page(request: Request) -> Response:
    """The code after the password (the pending step lasts 5 minutes)."""
    if pending_sign_in(request) is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    return _page(
        request,
        "two_factor.html",
        choose_locale(request, None),
        viewer=None,
        csrf=csrf_token(request, "two-factor"),
        next=_safe_next(request.query_params.get("next")),
    )


@router.post("/login/two-factor")
async def two_factor_sign_in(request: Request, session: SessionDep) -> Response:
    """The second step: the login session starts with a right code (TOTP, never reused, or an
    unused recovery code), as `POST /v1/auth/login` with `otp`."""
    request.state.back = f"{PREFIX}/login"
    fields = await checked_form(request, "two-factor")
    pending = pending_sign_in(request)
    if pending is None:
        raise SignInAgain("Sign in again: the code was not sent in time.")
    target = _safe_next(fields.get("next"))
    request.state.back = f"{PREFIX}/login/two-factor?next={target}"
    state = get_state(request)
    limiter = state.rate_limiter
    await limiter.hit_anonymous(client_address(request), "login-two-factor")
    await limiter.check_two_factor(pending.email)
    try:
        issued = await user_service.login_second_step(
            session,
            user_id=pending.user_id,
            fingerprint=pending.fingerprint,
            otp=(fields.get("code") or "")[:40],
            settings=state.settings.auth,
            jwt_secret=state.jwt_secret,
            box=totp_box(state.settings),
        )
    except TwoFactorCodeInvalid as exc:
        await limiter.two_factor_failed(pending.email)
        await audit.record_failed_login(state.db, email=pending.email, reason=exc.message)
        raise
    await limiter.login_succeeded(pending.email)
    await limiter.two_factor_succeeded(pending.email)
    response = RedirectResponse(target, status_code=303)
    start_browser_session(request, response, issued)
    return response


@router.post("/login/two-factor/cancel")
async def two_factor_cancel(request: Request) -> Response:
    """Back to the sign-in form (the pending step is forgotten)."""
    request.state.back = f"{PREFIX}/login"
    await checked_form(request, "two-factor")
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(PENDING_COOKIE, path=PREFIX)
    return response


# -- security: the member's own two-factor sign-in ---------------------------------------------


@router.get("/security")
async def security(request: Request, viewer: AnyMember, session: SessionDep) -> Response:
    """Two-factor sign-in: its state, and the forms to turn it on or off."""
    assert viewer.subject.user_id is not None
    status = await two_factor.status(
        session, viewer.subject.user_id, totp_box(get_state(request).settings)
    )
    return _page(
        request,
        "security.html",
        viewer.locale,
        viewer=viewer,
        two_factor=status,
        secret=grouped(status.pending_secret) if status.pending_secret else None,
        qr=qr_data_uri(status.provisioning_uri) if status.provisioning_uri else None,
    )


@router.post("/security/two-factor/start")
async def two_factor_start(request: Request, viewer: AnyMember, session: SessionDep) -> Response:
    """A new secret to add to an authenticator app (not on until a code confirms it)."""
    assert viewer.subject.session_id is not None
    assert viewer.subject.user_id is not None
    request.state.back = f"{PREFIX}/security"
    await checked_form(request, viewer.subject.session_id)
    await two_factor.start(session, viewer.subject.user_id, totp_box(get_state(request).settings))
    return RedirectResponse(f"{PREFIX}/security#confirm", status_code=303)


async def _code_checked(request: Request, viewer: Viewer) -> dict[str, str]:
    assert viewer.subject.session_id is not None
    request.state.back = f"{PREFIX}/security"
    fields = await checked_form(request, viewer.subject.session_id)
    await check_code_limits(request, viewer.email)
    return fields


def _codes_page(
    request: Request, viewer: Viewer, codes: list[str], *, enabled_now: bool
) -> HTMLResponse:
    """The recovery codes, in clear this once (the page is the POST's answer, never cached)."""
    return _page(
        request,
        "recovery_codes.html",
        viewer.locale,
        viewer=viewer,
        codes=codes,
        enabled_now=enabled_now,
    )


@router.post("/security/two-factor/confirm")
async def two_factor_confirm(request: Request, viewer: AnyMember, session: SessionDep) -> Response:
    """A current code turns two-factor sign-in on; the recovery codes are shown once."""
    assert viewer.subject.user_id is not None
    fields = await _code_checked(request, viewer)
    async with code_attempt(request, viewer.email):
        codes = await two_factor.confirm(
            session,
            viewer.subject.user_id,
            (fields.get("code") or "")[:40],
            totp_box(get_state(request).settings),
            merchant_id=viewer.subject.merchant_id,
        )
    return _codes_page(request, viewer, codes, enabled_now=True)


@router.post("/security/recovery-codes")
async def recovery_codes(request: Request, viewer: AnyMember, session: SessionDep) -> Response:
    """New recovery codes for a current code (the old ones stop working)."""
    assert viewer.subject.user_id is not None
    fields = await _code_checked(request, viewer)
    async with code_attempt(request, viewer.email):
        codes = await two_factor.regenerate_recovery_codes(
            session,
            viewer.subject.user_id,
            (fields.get("code") or "")[:40],
            totp_box(get_state(request).settings),
            merchant_id=viewer.subject.merchant_id,
        )
    return _codes_page(request, viewer, codes, enabled_now=False)


@router.post("/security/two-factor/disable")
async def two_factor_disable(request: Request, viewer: AnyMember, session: SessionDep) -> Response:
    """Off, for the password and a code."""
    assert viewer.subject.user_id is not None
    fields = await _code_checked(request, viewer)
    async with code_attempt(request, viewer.email):
        await two_factor.disable(
            session,
            viewer.subject.user_id,
            password=fields.get("password") or "",
            code=(fields.get("code") or "")[:40],
            box=totp_box(get_state(request).settings),
            merchant_id=viewer.subject.merchant_id,
        )
    return _flash_response(request, f"{PREFIX}/security", {"notice": "two_factor_disabled"})
