"""The dashboard's session: a cookie naming the user's login session, and the member it makes.

Signing in starts a login session exactly as `POST /v1/auth/login` does (the users service, the
same throttles); the cookie (`mboa_session`: HttpOnly, SameSite=Lax, Secure unless the host is
loopback) carries the signed claims of that session (`auth.tokens`, an audience of its own) and
lives as long as it. Each request checks that the session is still live (sign-out and
revocation end it at once), then `auth.dependencies.member_subject` gives the member the
permissions of their role, as the team API does. The merchant and the mode come from cookies
the top bar's forms set (`mboa_account`, `mboa_mode`); the request's transaction is scoped to
them (row-level security).

A user with two-factor sign-in gets, after the password, only a pending cookie (`mboa_2fa`,
signed, 5 minutes, naming the user): the session cookie comes with the code
(docs/dashboard.md "Two-factor sign-in")."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import jwt
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from mboa.auth.dependencies import SignedIn, live_session_user, member_subject
from mboa.auth.subject import AuthSubject
from mboa.auth.tokens import (
    COOKIE_AUDIENCE,
    ISSUER,
    decode_access_token,
    issue_access_token,
)
from mboa.dashboard.exceptions import DashboardCsrfInvalid, NoAccount, SignInRequired
from mboa.exceptions import Unauthorized
from mboa.kit.time import utc_now
from mboa.routing import get_session
from mboa.state import get_state
from mboa.users.service import IssuedTokens
from mboa.users.service import user as user_service
from mboa.web import csrf
from mboa.web.i18n import LOCALES, negotiate

SESSION_COOKIE = "mboa_session"
MODE_COOKIE = "mboa_mode"
ACCOUNT_COOKIE = "mboa_account"
LANG_COOKIE = "mboa_lang"
CSRF_PURPOSE = b"mboa dashboard csrf"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
PENDING_COOKIE = "mboa_2fa"
PENDING_AUDIENCE = "mboa-dashboard-2fa"
PENDING_SECONDS = 300
"""How long the password stays proven while the second step waits for a code."""


@dataclasses.dataclass(frozen=True, slots=True)
class Membership:
    merchant_id: str
    role: str
    name: str
    status: str


@dataclasses.dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in member of one request, and what every page's frame shows."""

    subject: AuthSubject
    email: str
    name: str | None
    memberships: list[Membership]
    locale: str
    csrf: str

    @property
    def livemode(self) -> bool:
        return self.subject.livemode

    @property
    def merchant(self) -> Membership:
        return next(m for m in self.memberships if m.merchant_id == self.subject.merchant_id)

    def can(self, permission: str) -> bool:
        return self.subject.can(permission)


def secure_cookies(request: Request) -> bool:
    """Secure everywhere but on a loopback host (a developer's plain-HTTP `mboa up`)."""
    return request.url.scheme == "https" or request.url.hostname not in LOOPBACK_HOSTS


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def csrf_cookie(request: Request) -> str:
    """The browser's CSRF cookie, or a new one (set on the response by `pages.html`)."""
    existing = request.cookies.get(csrf.COOKIE)
    if existing and len(existing) <= 64:
        return existing
    fresh: str | None = getattr(request.state, "new_csrf_cookie", None)
    if fresh is None:
        fresh = csrf.new_cookie_value()
        request.state.new_csrf_cookie = fresh
    return fresh


def csrf_token(request: Request, scope: str) -> str:
    return csrf.token(
        get_state(request).jwt_secret, csrf_cookie(request), scope, purpose=CSRF_PURPOSE
    )


async def checked_form(request: Request, scope: str) -> dict[str, str]:
    """The posted form, once its CSRF token is proven to come from our page in this browser."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    valid = csrf.valid(
        get_state(request).jwt_secret,
        request.cookies.get(csrf.COOKIE),
        scope,
        fields.get("csrf"),
        purpose=CSRF_PURPOSE,
    )
    if not valid:
        raise DashboardCsrfInvalid("This form was not sent from its page.")
    return fields


def session_cookie(jwt_secret: str, *, user_id: str, session_id: str, ttl_seconds: int) -> str:
    token, _ = issue_access_token(
        jwt_secret,
        user_id=user_id,
        session_id=session_id,
        ttl_seconds=ttl_seconds,
        audience=COOKIE_AUDIENCE,
    )
    return token


def start_browser_session(request: Request, response: Response, issued: IssuedTokens) -> None:
    """The session cookie (and the user's language) once a login session has started: after the
    password, or after the password and the second factor."""
    ttl = int((issued.refresh_expires_at - utc_now()).total_seconds())
    cookie = session_cookie(
        get_state(request).jwt_secret,
        user_id=issued.user.id,
        session_id=issued.session_id,
        ttl_seconds=ttl,
    )
    set_cookie(request, response, SESSION_COOKIE, cookie, max_age=ttl)
    response.delete_cookie(PENDING_COOKIE, path="/dashboard")
    if issued.user.locale in LOCALES:
        set_cookie(request, response, LANG_COOKIE, issued.user.locale, max_age=365 * 86400)


# Two-factor sign-in's step between the password and the code: a signed, short-lived cookie
# naming the user, their email (the code throttle's key) and their password's fingerprint (a
# password change voids it). It opens nothing by itself: only the second step reads it.


@dataclasses.dataclass(frozen=True, slots=True)
class PendingSignIn:
    user_id: str
    email: str
    fingerprint: str


def set_pending_cookie(request: Request, response: Response, pending: PendingSignIn) -> None:
    now = utc_now()
    token = jwt.encode(
        {
            "iss": ISSUER,
            "aud": PENDING_AUDIENCE,
            "sub": pending.user_id,
            "email": pending.email,
            "pwd": pending.fingerprint,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + PENDING_SECONDS,
        },
        get_state(request).jwt_secret,
        algorithm="HS256",
    )
    response.set_cookie(
        PENDING_COOKIE,
        token,
        max_age=PENDING_SECONDS,
        path="/dashboard",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def pending_sign_in(request: Request) -> PendingSignIn | None:
    """The pending second step of this browser, if any and not expired (5 minutes)."""
    token = request.cookies.get(PENDING_COOKIE)
    if not token or len(token) > 2000:
        return None
    try:
        claims = jwt.decode(
            token,
            get_state(request).jwt_secret,
            algorithms=["HS256"],
            audience=PENDING_AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "email", "pwd"]},
        )
    except jwt.PyJWTError:
        return None
    return PendingSignIn(str(claims["sub"]), str(claims["email"]), str(claims["pwd"]))


def choose_locale(request: Request, chosen: str | None) -> str:
    """The user's remembered choice, then this browser's, then its Accept-Language."""
    if chosen in LOCALES:
        return chosen
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in LOCALES:
        return remembered
    return negotiate(request.headers.get("accept-language"))


async def signed_in_user(request: Request, session: AsyncSession) -> SignedIn:
    """The user of the browser's live login session (the `mboa_session` cookie): the
    dashboard's and the console's pages start here. `SignInRequired` without one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    claims = (
        decode_access_token(get_state(request).jwt_secret, cookie, audience=COOKIE_AUDIENCE)
        if cookie
        else None
    )
    if claims is None:
        raise SignInRequired("Sign in to continue.")
    try:
        return await live_session_user(session, claims)
    except Unauthorized as exc:
        raise SignInRequired("Your session has ended: sign in again.") from exc


class Member:
    """A dashboard page's authenticator: the signed-in member, with `permission` (as the API's
    endpoints declare theirs). Nobody signed in: the sign-in page."""

    def __init__(self, permission: str | None) -> None:
        self.permission = permission

    async def __call__(
        self, request: Request, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> Viewer:
        user = await signed_in_user(request, session)
        found, rows = await user_service.profile(session, user.user_id)
        memberships = [Membership(*row) for row in rows]
        if not memberships:
            raise NoAccount("You are not a member of any account.")
        wanted = request.cookies.get(ACCOUNT_COOKIE)
        merchant = next((m for m in memberships if m.merchant_id == wanted), memberships[0])
        livemode = request.cookies.get(MODE_COOKIE) == "live"
        subject = await member_subject(
            request, session, user, merchant.merchant_id, livemode, self.permission
        )
        viewer = Viewer(
            subject=subject,
            email=found.email,
            name=found.name,
            memberships=memberships,
            locale=choose_locale(request, found.locale),
            csrf=csrf_token(request, user.session_id),
        )
        request.state.viewer = viewer
        return viewer
