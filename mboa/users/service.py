"""Sign-up, login, token refresh with rotation, logout."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.passwords import hash_password, verify_password, weakness
from mboa.auth.tokens import issue_access_token
from mboa.config import AuthSettings
from mboa.kit.crypto import random_token, sha256_hex
from mboa.kit.ids import Prefix, new_id
from mboa.kit.time import utc_now
from mboa.merchants.repository import MerchantMemberRepository
from mboa.merchants.service import merchant as merchant_service
from mboa.models import ApiKey, Merchant, User, UserSession
from mboa.users.exceptions import (
    EmailTaken,
    InvalidCredentials,
    RefreshTokenInvalid,
    RefreshTokenReused,
    WeakPassword,
)
from mboa.users.repository import UserRepository, UserSessionRepository

REFRESH_PREFIX = "rt_"


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedTokens:
    user: User
    access_token: str
    access_expires_at: dt.datetime
    refresh_token: str
    refresh_expires_at: dt.datetime


class UserService:
    def check_password(
        self, password: str, settings: AuthSettings, *, user_inputs: Sequence[str | None] = ()
    ) -> None:
        """Every place a password is set calls this; the password is used exactly as given
        (never stripped or altered)."""
        if len(password) < settings.min_password_length:
            raise WeakPassword(
                f"Passwords must have at least {settings.min_password_length} characters.",
                param="password",
            )
        problem = weakness(
            password,
            min_score=settings.min_password_score,
            user_inputs=[value for value in user_inputs if value],
        )
        if problem is not None:
            raise WeakPassword(problem, param="password")

    async def signup(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        name: str | None,
        business_name: str,
        settings: AuthSettings,
        jwt_secret: str,
    ) -> tuple[IssuedTokens, Merchant, list[tuple[ApiKey, str]]]:
        self.check_password(password, settings, user_inputs=(email, name, business_name))
        email = email.lower()
        repository = UserRepository.from_session(session)
        if await repository.get_by_email(email) is not None:
            raise EmailTaken("An account with this email already exists.", param="email")
        user = User(
            id=new_id(Prefix.user),
            email=email,
            name=name,
            password_hash=hash_password(password),
            is_platform_admin=False,
            created_at=utc_now(),
        )
        try:
            await repository.add(user)
        except IntegrityError:  # a concurrent sign-up with the same email
            raise EmailTaken("An account with this email already exists.", param="email") from None
        merchant, keys = await merchant_service.create(
            session, owner_user_id=user.id, name=business_name
        )
        tokens = await self._start_session(session, user, settings, jwt_secret)
        return tokens, merchant, keys

    async def create_platform_admin(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        name: str | None,
        settings: AuthSettings,
    ) -> User:
        self.check_password(password, settings, user_inputs=(email, name))
        repository = UserRepository.from_session(session)
        user = await repository.get_by_email(email)
        if user is None:
            user = User(
                id=new_id(Prefix.user),
                email=email.lower(),
                name=name,
                password_hash=hash_password(password),
                is_platform_admin=True,
                created_at=utc_now(),
            )
            await repository.add(user)
        else:
            user.is_platform_admin = True
            user.password_hash = hash_password(password)
            await session.flush()
        return user

    async def login(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        settings: AuthSettings,
        jwt_secret: str,
    ) -> IssuedTokens:
        user = await UserRepository.from_session(session).get_by_email(email)
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise InvalidCredentials("Incorrect email or password.")
        if user.disabled_at is not None:
            raise InvalidCredentials("This user is disabled.")
        return await self._start_session(session, user, settings, jwt_secret)

    async def _start_session(
        self, session: AsyncSession, user: User, settings: AuthSettings, jwt_secret: str
    ) -> IssuedTokens:
        now = utc_now()
        refresh = REFRESH_PREFIX + random_token(32)
        login = UserSession(
            id=new_id(Prefix.session),
            user_id=user.id,
            refresh_token_hash=sha256_hex(refresh),
            expires_at=now + dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
            created_at=now,
        )
        await UserSessionRepository.from_session(session).add(login)
        return self._issue(user, login, refresh, settings, jwt_secret)

    def _issue(
        self, user: User, login: UserSession, refresh: str, settings: AuthSettings, jwt_secret: str
    ) -> IssuedTokens:
        access, access_expires = issue_access_token(
            jwt_secret,
            user_id=user.id,
            session_id=login.id,
            ttl_seconds=settings.access_token_ttl_seconds,
        )
        return IssuedTokens(user, access, access_expires, refresh, login.expires_at)

    async def refresh(
        self, session: AsyncSession, *, refresh_token: str, settings: AuthSettings, jwt_secret: str
    ) -> IssuedTokens:
        """Rotate: the presented token is spent and a new one issued. Presenting any spent token
        of a session again, however many rotations ago, means a token leaked, so the whole
        session is revoked (refresh-token reuse detection)."""
        now = utc_now()
        token_hash = sha256_hex(refresh_token)
        sessions = UserSessionRepository.from_session(session)
        login = await sessions.get_by_token_hash_for_update(token_hash)
        if login is None:
            reused = await sessions.session_that_spent(token_hash)
            if reused is not None:
                await sessions.revoke(reused, now)
                raise RefreshTokenReused(
                    "This refresh token was already used; the session is revoked."
                )
            raise RefreshTokenInvalid("This refresh token is invalid or was already used.")
        if login.revoked_at is not None or login.expires_at <= now:
            raise RefreshTokenInvalid("This session has ended; log in again.")
        user = await UserRepository.from_session(session).get(login.user_id)
        if user is None or user.disabled_at is not None:
            raise RefreshTokenInvalid("This user is disabled.")
        new_refresh = REFRESH_PREFIX + random_token(32)
        await sessions.spend(login, now)
        login.refresh_token_hash = sha256_hex(new_refresh)
        login.rotated_at = now
        await session.flush()
        return self._issue(user, login, new_refresh, settings, jwt_secret)

    async def profile(
        self, session: AsyncSession, user_id: str
    ) -> tuple[User, Sequence[tuple[str, str, str, str]]]:
        found = await UserRepository.from_session(session).get(user_id)
        if found is None:
            raise InvalidCredentials("This user no longer exists.")
        memberships = await MerchantMemberRepository.from_session(session).memberships_of_user(
            user_id
        )
        return found, memberships

    async def logout(self, session: AsyncSession, *, session_id: str) -> None:
        await UserSessionRepository.from_session(session).revoke(session_id, utc_now())


user = UserService()
