"""Authenticators: each endpoint declares who may call it and with which permission.

An authenticator resolves the caller, applies the rate limit and the permission, and scopes the
request's transaction to the caller's merchant and mode (row-level security). Nothing else: the
route claims a POST's Idempotency-Key in a step of its own, after this one
(`mboa.idempotency.dependencies`).
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.cache import ApiKeyCache
from mboa.auth.openapi import BearerScheme
from mboa.auth.repository import AuthRepository
from mboa.auth.scopes import KEY_PERMISSIONS, ROLE_PERMISSIONS, expand
from mboa.auth.subject import AuthSubject, SubjectKind
from mboa.auth.tokens import AccessClaims, decode_access_token
from mboa.exceptions import BadRequest, Forbidden, NotFound, Unauthorized
from mboa.kit.crypto import sha256_hex
from mboa.kit.time import utc_now
from mboa.models import ApiKeyType, MerchantStatus
from mboa.postgres import TenantContext, scope_session, set_merchant_only, set_tenant
from mboa.routing import get_session
from mboa.state import get_state

KEY_PREFIXES = {
    "sk_test_": (ApiKeyType.secret, False),
    "sk_live_": (ApiKeyType.secret, True),
    "pk_test_": (ApiKeyType.publishable, False),
    "pk_live_": (ApiKeyType.publishable, True),
    "rk_test_": (ApiKeyType.restricted, False),
    "rk_live_": (ApiKeyType.restricted, True),
}
KIND_OF_KEY = {
    ApiKeyType.secret: SubjectKind.secret_key,
    ApiKeyType.publishable: SubjectKind.publishable_key,
    ApiKeyType.restricted: SubjectKind.restricted_key,
}


def bearer_token(request: Request) -> str | None:
    """`Authorization: Bearer <token>`, or HTTP Basic with the key as the username (as Stripe)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
            return None
        return decoded.partition(":")[0] or None
    return None


def _missing() -> Unauthorized:
    return Unauthorized(
        "You did not provide an API key. Provide it in the Authorization header:"
        " 'Authorization: Bearer sk_test_…'.",
        code="api_key_missing",
        headers={"WWW-Authenticate": 'Bearer realm="mboa"'},
    )


async def authenticate_api_key(
    request: Request, token: str, cache: ApiKeyCache | None = None
) -> AuthSubject:
    if token[:8] not in KEY_PREFIXES:
        raise Unauthorized("Invalid API key provided.", code="api_key_invalid")
    secret_hash = sha256_hex(token)
    row = cache.get(secret_hash) if cache is not None else None
    if row is None:
        session = await get_session(request)
        row = await AuthRepository.from_session(session).api_key(secret_hash)
        if row is None:
            raise Unauthorized("Invalid API key provided.", code="api_key_invalid")
        if cache is not None:
            cache.put(secret_hash, row)
    now = utc_now()
    if row.revoked_at is not None:
        raise Unauthorized("This API key has been revoked.", code="api_key_revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("This API key has expired.", code="api_key_expired")
    if row.livemode and row.merchant_status != MerchantStatus.active:
        raise Forbidden(
            "This account cannot make live requests: it is "
            + (
                "suspended." if row.merchant_status == MerchantStatus.suspended else "not approved."
            ),
            code="account_not_live",
        )
    key_type = ApiKeyType(row.type)
    permissions = (
        expand(frozenset(row.scopes))
        if key_type is ApiKeyType.restricted
        else KEY_PERMISSIONS[key_type]
    )
    return AuthSubject(
        kind=KIND_OF_KEY[key_type],
        permissions=permissions,
        merchant_id=row.merchant_id,
        livemode=row.livemode,
        key_id=row.id,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class SignedIn:
    user_id: str
    session_id: str
    is_platform_admin: bool


async def authenticate_user(request: Request, session: AsyncSession) -> SignedIn:
    """The user behind `Authorization: Bearer <access token>`, with a live session."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Log in and send the access token as a Bearer token.")
    state = get_state(request)
    claims = decode_access_token(state.jwt_secret, token)
    if claims is None:
        raise Unauthorized("Invalid or expired access token.", code="access_token_invalid")
    return await live_session_user(session, claims)


async def live_session_user(session: AsyncSession, claims: AccessClaims) -> SignedIn:
    """The user the claims name, if enabled and if that login session is still live (a
    sign-out or a revocation ends it at once, for the API's tokens and the dashboard's cookie)."""
    user = await AuthRepository.from_session(session).user_with_live_session(
        claims.user_id, claims.session_id, now=utc_now()
    )
    if user is None:
        raise Unauthorized("This session has ended; log in again.", code="session_expired")
    return SignedIn(user.id, claims.session_id, user.is_platform_admin)


async def _after_authentication(
    request: Request,
    subject: AuthSubject,
    permission: str | None,
) -> AuthSubject:
    state = get_state(request)
    await state.rate_limiter.hit_key(subject.rate_limit_identity, livemode=subject.livemode)
    if permission is not None and not subject.can(permission):
        raise Forbidden(
            f"This {'key' if subject.key_id else 'user'} does not have the '{permission}'"
            " permission required for this request.",
            code="insufficient_permissions" if subject.key_id else "role_not_permitted",
        )
    request.state.auth = subject
    return subject


class ApiKeyAuth(BearerScheme):
    """Public API: `Authorization: Bearer sk_…` (or rk_/pk_). The key fixes merchant and mode."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> AuthSubject:
        token = bearer_token(request)
        if token is None:
            raise _missing()
        state = get_state(request)
        subject = await authenticate_api_key(request, token, state.key_cache)
        if subject.key_id is not None:
            state.key_usage.touch(subject.key_id)  # in memory; written in batches
        # The session, when the route opens one, is scoped to the key's merchant and mode; a GET
        # served by the read path never opens it.
        request.state.session_tenant = subject.tenant
        if request.state.session is not None:
            await scope_session(request.state.session, subject.tenant)
        return await _after_authentication(request, subject, self.permission)


def _livemode_param(request: Request) -> bool:
    raw = request.query_params.get("livemode", "false").lower()
    if raw in {"true", "1"}:
        return True
    if raw in {"false", "0", ""}:
        return False
    raise BadRequest("livemode must be true or false", param="livemode")


class MemberAuth(BearerScheme):
    """Dashboard API for a merchant's team: a user access token plus a role on `{merchant_id}`.

    `mode_scoped` routes act in the mode given by the `livemode` query parameter (default test).
    """

    def __init__(self, permission: str, *, mode_scoped: bool = False) -> None:
        self.permission = permission
        self.mode_scoped = mode_scoped

    async def __call__(
        self, request: Request, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> AuthSubject:
        user = await authenticate_user(request, session)
        merchant_id = request.path_params.get("merchant_id", "")
        livemode = _livemode_param(request) if self.mode_scoped else None
        return await member_subject(request, session, user, merchant_id, livemode, self.permission)


async def member_subject(
    request: Request,
    session: AsyncSession,
    user: SignedIn,
    merchant_id: str,
    livemode: bool | None,
    permission: str | None,
) -> AuthSubject:
    """A signed-in user acting on a merchant with their role's permissions: the team API
    (`MemberAuth`) and the dashboard's pages (its session cookie) both decide here. With a
    `livemode`, the session is scoped to that merchant and mode; without, to the merchant's
    account-level rows only."""
    await set_merchant_only(session, merchant_id)
    role = await AuthRepository.from_session(session).member_role(merchant_id, user.user_id)
    if role is None:
        raise NotFound(f"No such merchant: '{merchant_id}'", param="merchant_id")
    subject = AuthSubject(
        kind=SubjectKind.user,
        permissions=ROLE_PERMISSIONS[role],
        merchant_id=merchant_id,
        livemode=bool(livemode),
        user_id=user.user_id,
        session_id=user.session_id,
        role=role,
        is_platform_admin=user.is_platform_admin,
    )
    if livemode is not None:
        await set_tenant(session, TenantContext(merchant_id, livemode))
    return await _after_authentication(request, subject, permission)


class UserAuth(BearerScheme):
    """Any signed-in user, acting for themselves (no merchant context)."""

    def __init__(self, *, platform_admin: bool = False) -> None:
        self.platform_admin = platform_admin

    async def __call__(
        self, request: Request, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> AuthSubject:
        user = await authenticate_user(request, session)
        if self.platform_admin and not user.is_platform_admin:
            raise Forbidden("Only platform staff may do this.", code="platform_admin_required")
        subject = AuthSubject(
            kind=SubjectKind.user,
            permissions=frozenset(),
            user_id=user.user_id,
            session_id=user.session_id,
            is_platform_admin=user.is_platform_admin,
        )
        return await _after_authentication(request, subject, None)
