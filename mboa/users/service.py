"""Sign-up, login, token refresh with rotation, logout."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.service import Action as AuditAction
from mboa.audit.service import Actor, ActorType, audit
from mboa.auth.passwords import hash_password, verify_password, weakness
from mboa.auth.tokens import issue_access_token
from mboa.config import AuthSettings
from mboa.kit.crypto import random_token, sha256_hex
from mboa.kit.ids import Prefix, new_id
from mboa.kit.secretbox import AeadBox
from mboa.kit.time import utc_now
from mboa.mail.service import PASSWORD_RESET
from mboa.mail.service import mail as mail_service
from mboa.merchants.repository import MerchantMemberRepository
from mboa.merchants.service import merchant as merchant_service
from mboa.models import ApiKey, Merchant, PasswordReset, User, UserSession
from mboa.users.exceptions import (
    EmailTaken,
    InvalidCredentials,
    RefreshTokenInvalid,
    RefreshTokenReused,
    ResetTokenInvalid,
    TwoFactorCodeRequired,
    WeakPassword,
)
from mboa.users.repository import (
    PasswordResetRepository,
    UserRepository,
    UserSessionRepository,
)
from mboa.users.two_factor import password_fingerprint, two_factor

REFRESH_PREFIX = "rt_"


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedTokens:
    user: User
    access_token: str
    access_expires_at: dt.datetime
    refresh_token: str
    refresh_expires_at: dt.datetime
    session_id: str


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
        await audit.record(
            session,
            action=AuditAction.staff_granted,
            target=("user", user.id),
            after={"email": user.email, "is_platform_admin": True},
            fallback_actor=Actor.system("mboa admin create"),
        )
        return user

    async def login(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        settings: AuthSettings,
        jwt_secret: str,
        otp: str | None = None,
        box: AeadBox | None = None,
    ) -> IssuedTokens:
        """The password, then (a user with two-factor sign-in) a code: without one,
        `TwoFactorCodeRequired` (which names the user, for the dashboard's second step)."""
        user = await UserRepository.from_session(session).get_by_email(email)
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise InvalidCredentials("Incorrect email or password.")
        if user.disabled_at is not None:
            raise InvalidCredentials("This user is disabled.")
        if two_factor.enabled(user):
            if not otp:
                raise TwoFactorCodeRequired(
                    "This user signs in with a second factor: send the code of their"
                    " authenticator app (or a recovery code) as `otp`.",
                    param="otp",
                    user_id=user.id,
                    fingerprint=password_fingerprint(user),
                )
            assert box is not None, "a two-factor login needs the TOTP box"
            await two_factor.verify(session, user, otp, box)
        return await self._signed_in(session, user, settings, jwt_secret)

    async def login_second_step(
        self,
        session: AsyncSession,
        *,
        user_id: str,
        fingerprint: str,
        otp: str,
        settings: AuthSettings,
        jwt_secret: str,
        box: AeadBox,
    ) -> IssuedTokens:
        """The dashboard's second step: the user whose password was right a moment ago (the
        signed pending state names them and their password's fingerprint) and a code."""
        user = await UserRepository.from_session(session).get(user_id)
        if (
            user is None
            or user.disabled_at is not None
            or not two_factor.enabled(user)
            or not hmac.compare_digest(password_fingerprint(user), fingerprint)
        ):
            raise InvalidCredentials("Sign in again.")
        await two_factor.verify(session, user, otp, box)
        return await self._signed_in(session, user, settings, jwt_secret)

    async def _signed_in(
        self, session: AsyncSession, user: User, settings: AuthSettings, jwt_secret: str
    ) -> IssuedTokens:
        """A login session for a user who proved who they are (password, and code if on)."""
        issued = await self._start_session(session, user, settings, jwt_secret)
        await audit.record(
            session,
            action=AuditAction.auth_login,
            target=("user", user.id),
            actor=Actor(ActorType.staff if user.is_platform_admin else ActorType.user, user.id),
            after={"session": issued.session_id},
        )
        return issued

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
        return IssuedTokens(user, access, access_expires, refresh, login.expires_at, login.id)

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

    async def set_locale(self, session: AsyncSession, user_id: str, locale: str) -> None:
        """Remember the language a user chose (the dashboard speaks it on every device)."""
        found = await UserRepository.from_session(session).get(user_id)
        if found is None:
            raise InvalidCredentials("This user no longer exists.")
        found.locale = locale
        await session.flush()

    # Invited sign-up and password reset (docs/dashboard.md) -----------------------------------

    async def signup_invited(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        name: str | None,
        locale: str | None,
        settings: AuthSettings,
        jwt_secret: str,
    ) -> IssuedTokens:
        """A user with no merchant of their own (they join the one that invited them), signed in."""
        self.check_password(password, settings, user_inputs=(email, name))
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
            locale=locale,
            created_at=utc_now(),
        )
        try:
            await repository.add(user)
        except IntegrityError:
            raise EmailTaken("An account with this email already exists.", param="email") from None
        return await self._start_session(session, user, settings, jwt_secret)

    async def request_password_reset(
        self, session: AsyncSession, *, email: str, ttl: dt.timedelta
    ) -> None:
        """E-mail a reset link if a user has this address; the same (nothing) otherwise: the
        caller's answer never tells whether the address is known."""
        found = await UserRepository.from_session(session).get_by_email(email.strip())
        if found is None or found.disabled_at is not None:
            return
        now = utc_now()
        reset = await PasswordResetRepository.from_session(session).add(
            PasswordReset(
                id=new_id(Prefix.password_reset),
                user_id=found.id,
                token_hash=sha256_hex(random_token(32)),  # replaced when the e-mail is sent
                expires_at=now + ttl,
                created_at=now,
            )
        )
        await mail_service.queue(
            session,
            kind=PASSWORD_RESET,
            recipients=[found.email],
            data={"password_reset": reset.id, "locale": found.locale},
            merchant_id=None,
            livemode=False,
            subject="Reset your Mboa Pay password",
        )
        await audit.record(
            session,
            action=AuditAction.auth_password_reset_requested,
            target=("user", found.id),
            after={"reset": reset.id, "expires_at": reset.expires_at.isoformat()},
            fallback_actor=Actor(ActorType.user, found.id),
        )

    async def password_reset(self, session: AsyncSession, token: str) -> PasswordReset:
        """The live reset a link names (locked), or `ResetTokenInvalid`."""
        found = await PasswordResetRepository.from_session(session).by_token_hash(
            sha256_hex(token[:200])
        )
        if found is None or found.used_at is not None or found.expires_at <= utc_now():
            raise ResetTokenInvalid("This password-reset link is not valid.")
        return found

    async def reset_password(
        self, session: AsyncSession, *, token: str, password: str, settings: AuthSettings
    ) -> User:
        """Set the new password (the rules of every password), spend the link and every other
        unused one, and end every login session of the user."""
        reset = await self.password_reset(session, token)
        found = await UserRepository.from_session(session).get(reset.user_id)
        if found is None or found.disabled_at is not None:
            raise ResetTokenInvalid("This password-reset link is not valid.")
        self.check_password(password, settings, user_inputs=(found.email, found.name))
        now = utc_now()
        found.password_hash = hash_password(password)
        await PasswordResetRepository.from_session(session).spend_all(found.id, now)
        await UserSessionRepository.from_session(session).revoke_all(found.id, now)
        await session.flush()
        await audit.record(
            session,
            action=AuditAction.auth_password_reset,
            target=("user", found.id),
            after={"reset": reset.id, "sessions_ended": True},
            fallback_actor=Actor(ActorType.user, found.id),
        )
        return found


user = UserService()
