"""Sign-up, login, refresh, logout, and who am I. Anonymous endpoints are rate limited per client."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from mboa.api_keys.schemas import ApiKey, to_schema
from mboa.audit.service import audit as audit_service
from mboa.auth.dependencies import UserAuth
from mboa.auth.subject import AuthSubject
from mboa.http_security import client_address
from mboa.kit.openapi import error_responses
from mboa.kit.schemas import Schema
from mboa.kit.time import utc_now
from mboa.merchants.endpoints import account_of
from mboa.merchants.schemas import Account
from mboa.routing import ApiRoute, SessionDep
from mboa.state import get_state
from mboa.users.exceptions import InvalidCredentials, TwoFactorCodeInvalid
from mboa.users.schemas import (
    LoginRequest,
    Me,
    Membership,
    RefreshRequest,
    SignupRequest,
    Tokens,
    User,
)
from mboa.users.service import IssuedTokens
from mboa.users.service import user as user_service
from mboa.users.two_factor import totp_box

router = APIRouter(prefix="/auth", tags=["Users"], route_class=ApiRoute)
me_router = APIRouter(tags=["Users"], route_class=ApiRoute)


class Signup(Schema):
    tokens: Tokens
    account: Account
    api_keys: list[ApiKey]
    """The sandbox keys, with their secrets: shown only in this response."""


def tokens_of(issued: IssuedTokens) -> Tokens:
    return Tokens(
        access_token=issued.access_token,
        expires_in=int((issued.access_expires_at - utc_now()).total_seconds()),
        refresh_token=issued.refresh_token,
        refresh_token_expires_at=issued.refresh_expires_at,
        user=User.model_validate(issued.user),
    )


async def _limit(request: Request, action: str) -> None:
    await get_state(request).rate_limiter.hit_anonymous(client_address(request), action)


@router.post("/signup", response_model=Signup, responses=error_responses(400, 409, 429))
async def signup(request: Request, body: SignupRequest, session: SessionDep) -> Signup:
    """Create a user and their first merchant account (in sandbox), with test API keys."""
    await _limit(request, "signup")
    state = get_state(request)
    issued, merchant, keys = await user_service.signup(
        session,
        email=body.email,
        password=body.password,
        name=body.name,
        business_name=body.business_name,
        settings=state.settings.auth,
        jwt_secret=state.jwt_secret,
    )
    return Signup(
        tokens=tokens_of(issued),
        account=account_of(merchant),
        api_keys=[to_schema(key, secret) for key, secret in keys],
    )


@router.post("/login", response_model=Tokens, responses=error_responses(400, 401, 429))
async def login(request: Request, body: LoginRequest, session: SessionDep) -> Tokens:
    """Exchange email and password for an access token (short-lived) and a refresh token.

    A user with two-factor sign-in also sends `otp`: the current code of their authenticator app
    or an unused recovery code. Without it: 401 `two_factor_code_required` (the password was right);
    a wrong or reused code: 401 `two_factor_code_invalid`."""
    await _limit(request, "login")
    state = get_state(request)
    limiter = state.rate_limiter
    await limiter.check_login_account(body.email)
    if body.otp is not None:
        await limiter.check_two_factor(body.email)
    try:
        issued = await user_service.login(
            session,
            email=body.email,
            password=body.password,
            settings=state.settings.auth,
            jwt_secret=state.jwt_secret,
            otp=body.otp,
            box=totp_box(state.settings),
        )
    except InvalidCredentials as exc:
        await limiter.login_failed(body.email)
        await audit_service.record_failed_login(state.db, email=body.email, reason=exc.message)
        raise
    except TwoFactorCodeInvalid as exc:
        await limiter.two_factor_failed(body.email)
        await audit_service.record_failed_login(state.db, email=body.email, reason=exc.message)
        raise
    await limiter.login_succeeded(body.email)
    if body.otp is not None:
        await limiter.two_factor_succeeded(body.email)
    return tokens_of(issued)


@router.post("/refresh", response_model=Tokens, responses=error_responses(400, 401, 429))
async def refresh(request: Request, body: RefreshRequest, session: SessionDep) -> Tokens:
    """Spend a refresh token for a new access token and a new refresh token (rotation)."""
    await _limit(request, "refresh")
    state = get_state(request)
    issued = await user_service.refresh(
        session,
        refresh_token=body.refresh_token,
        settings=state.settings.auth,
        jwt_secret=state.jwt_secret,
    )
    return tokens_of(issued)


@router.post("/logout", status_code=204, responses=error_responses(401, 429))
async def logout(
    auth: Annotated[AuthSubject, Depends(UserAuth())], session: SessionDep
) -> Response:
    """End this session: its access and refresh tokens stop working now."""
    assert auth.session_id is not None
    await user_service.logout(session, session_id=auth.session_id)
    return Response(status_code=204)


@me_router.get("/me", response_model=Me, responses=error_responses(401, 429))
async def me(auth: Annotated[AuthSubject, Depends(UserAuth())], session: SessionDep) -> Me:
    """The signed-in user and the merchants they belong to."""
    assert auth.user_id is not None
    user, memberships = await user_service.profile(session, auth.user_id)
    return Me(
        **User.model_validate(user).model_dump(),
        memberships=[
            Membership(merchant_id=m, role=r, merchant_name=n, merchant_status=s)
            for m, r, n, s in memberships
        ],
    )
