"""Optional two-factor sign-in: TOTP (RFC 6238, `pyotp`) and one-time recovery codes
(docs/dashboard.md "Two-factor sign-in").

A user enrols from the dashboard's Security page: a new secret is stored encrypted (not yet
enabled), shown as a QR code and as text, and only a current code from the app turns two-factor
sign-in on; ten recovery codes are then shown once (only their hashes are kept, each works
once). From then on, signing in (the dashboard and `POST /v1/auth/login`) needs a code after the
password: a code of the current 30-second step or of the step before or after it, never one of
a step already used, or an unused recovery code.

The secret is AES-256-GCM (`mboa.kit.secretbox`) under a key derived from
`MBOA_WEBHOOKS__ENCRYPTION_KEY` for this purpose alone, with the user's id as associated data.

`TwoFactorService.is_enabled(session, user_id)` is the one question other parts ask ("does
this user have two-factor sign-in?"): the staff console requires it (issue 17).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import secrets

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.service import Action as AuditAction
from mboa.audit.service import Actor, ActorType, audit
from mboa.auth.passwords import verify_password
from mboa.config import Settings
from mboa.kit.secretbox import AeadBox, derived_key
from mboa.kit.time import utc_now
from mboa.models import User
from mboa.users.exceptions import (
    InvalidCredentials,
    PasswordIncorrect,
    TwoFactorAlreadyEnabled,
    TwoFactorCodeInvalid,
    TwoFactorNotEnabled,
)
from mboa.users.repository import UserRepository
from mboa.users.two_factor_repository import TwoFactorRepository

ISSUER = "Mboa Pay"
KEY_PURPOSE = "mboa totp secrets v1"
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
"""No 0/o, 1/l/i: read from paper without doubt. 12 characters: about 59 bits each."""
RECOVERY_LENGTH = 12
VALID_WINDOW = 1
"""Steps accepted either side of the current one (clocks drift; a code typed as it changes)."""


@functools.cache
def _box(root_key: str) -> AeadBox:
    return AeadBox(derived_key(base64.b64decode(root_key, validate=True), KEY_PURPOSE))


def totp_box(settings: Settings) -> AeadBox:
    """The process's box for TOTP secrets (a key derived from the webhook encryption key)."""
    from mboa.dev.runtime import webhook_encryption_key

    return _box(webhook_encryption_key(settings))


def normalized(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def is_totp_code(code: str) -> bool:
    return len(code) == 6 and code.isdigit()


def recovery_code_hash(user_id: str, code: str) -> str:
    return hashlib.sha256(f"{user_id}:{normalized(code)}".encode()).hexdigest()


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return codes


def matching_step(secret: str, code: str, now: dt.datetime, last_step: int | None) -> int | None:
    """The time step within the window whose code is `code` and later than `last_step`."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def password_fingerprint(user: User) -> str:
    """Changes when the password does: a pending second step started before a password change
    is worthless after it."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True, slots=True)
class TwoFactorStatus:
    enabled_at: dt.datetime | None
    pending_secret: str | None
    """Enrolling: the secret to show (QR and text) until a code confirms it."""
    provisioning_uri: str | None
    recovery_codes_left: int

    @property
    def enabled(self) -> bool:
        return self.enabled_at is not None


class TwoFactorService:
    def enabled(self, user: User) -> bool:
        return user.totp_enabled_at is not None and user.totp_secret_ciphertext is not None

    async def is_enabled(self, session: AsyncSession, user_id: str) -> bool:
        """Whether this user signs in with a second factor (the staff console requires it)."""
        return self.enabled(await self._user(session, user_id))

    async def status(self, session: AsyncSession, user_id: str, box: AeadBox) -> TwoFactorStatus:
        user = await self._user(session, user_id)
        pending = None
        uri = None
        if not self.enabled(user) and user.totp_secret_ciphertext is not None:
            pending = box.decrypt(user.totp_secret_ciphertext, bound_to=user.id)
            uri = pyotp.TOTP(pending).provisioning_uri(name=user.email, issuer_name=ISSUER)
        left = (
            await TwoFactorRepository.from_session(session).recovery_codes_left(user.id)
            if self.enabled(user)
            else 0
        )
        return TwoFactorStatus(user.totp_enabled_at, pending, uri, left)

    async def start(self, session: AsyncSession, user_id: str, box: AeadBox) -> str:
        """A new secret, stored encrypted but not enabled until `confirm` (starting again
        replaces an unconfirmed one)."""
        user = await self._user(session, user_id)
        if self.enabled(user):
            raise TwoFactorAlreadyEnabled("Two-factor sign-in is already on.")
        secret = pyotp.random_base32()
        user.totp_secret_ciphertext = box.encrypt(secret, bound_to=user.id)
        user.totp_last_step = None
        await session.flush()
        return secret

    async def confirm(
        self,
        session: AsyncSession,
        user_id: str,
        code: str,
        box: AeadBox,
        *,
        merchant_id: str | None = None,
    ) -> list[str]:
        """A current code proves the app has the secret: two-factor sign-in is on. Returns the
        recovery codes, in clear this once. `merchant_id`: the account the member acts in (the
        audit row is that account's; none from a platform session)."""
        user = await self._user(session, user_id)
        if self.enabled(user):
            raise TwoFactorAlreadyEnabled("Two-factor sign-in is already on.")
        if user.totp_secret_ciphertext is None:
            raise TwoFactorNotEnabled("Start setting up two-factor sign-in first.")
        await self._verify_totp(session, user, normalized(code), box)
        user.totp_enabled_at = utc_now()
        await session.flush()
        codes = await self._new_recovery_codes(session, user)
        await self._audit(
            session,
            AuditAction.auth_totp_enabled,
            user,
            merchant_id,
            before={"two_factor": False},
            after={"two_factor": True, "recovery_codes": len(codes)},
        )
        return codes

    async def regenerate_recovery_codes(
        self,
        session: AsyncSession,
        user_id: str,
        code: str,
        box: AeadBox,
        *,
        merchant_id: str | None = None,
    ) -> list[str]:
        """New recovery codes for a current code; the old ones stop working."""
        user = await self._enabled_user(session, user_id)
        await self._verify_totp(session, user, normalized(code), box)
        left = await TwoFactorRepository.from_session(session).recovery_codes_left(user.id)
        codes = await self._new_recovery_codes(session, user)
        await self._audit(
            session,
            AuditAction.auth_recovery_codes_regenerated,
            user,
            merchant_id,
            before={"recovery_codes_left": left},
            after={"recovery_codes_left": len(codes)},
        )
        return codes

    async def disable(
        self,
        session: AsyncSession,
        user_id: str,
        *,
        password: str,
        code: str,
        box: AeadBox,
        merchant_id: str | None = None,
    ) -> None:
        """Off, for the password and a current code (or a recovery code)."""
        user = await self._enabled_user(session, user_id)
        if not verify_password(user.password_hash, password):
            raise PasswordIncorrect("The password is not right.", param="password")
        await self.verify(session, user, code, box, merchant_id=merchant_id)
        user.totp_secret_ciphertext = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        await TwoFactorRepository.from_session(session).delete_recovery_codes(user.id)
        await session.flush()
        await self._audit(
            session,
            AuditAction.auth_totp_disabled,
            user,
            merchant_id,
            before={"two_factor": True},
            after={"two_factor": False},
        )

    async def verify(
        self,
        session: AsyncSession,
        user: User,
        code: str,
        box: AeadBox,
        *,
        merchant_id: str | None = None,
    ) -> None:
        """A sign-in's second factor: a TOTP code (never one already used) or an unused
        recovery code (spent now, and recorded in the audit log: never the code itself)."""
        code = normalized(code)
        if is_totp_code(code):
            await self._verify_totp(session, user, code, box)
            return
        repository = TwoFactorRepository.from_session(session)
        spent = await repository.spend_recovery_code(
            user.id, recovery_code_hash(user.id, code), utc_now()
        )
        if not spent:
            raise TwoFactorCodeInvalid("This code is not right, or was already used.", param="otp")
        await self._audit(
            session,
            AuditAction.auth_recovery_code_used,
            user,
            merchant_id,
            after={"recovery_codes_left": await repository.recovery_codes_left(user.id)},
        )

    async def _audit(
        self,
        session: AsyncSession,
        action: AuditAction,
        user: User,
        merchant_id: str | None,
        *,
        before: dict[str, object] | None = None,
        after: dict[str, object] | None = None,
    ) -> None:
        """The user acts on their own sign-in (also from the sign-in's second step, where no
        one is authenticated yet). Never the secret nor a code: counts only."""
        await audit.record(
            session,
            action=action,
            target=("user", user.id),
            merchant_id=merchant_id,
            fallback_actor=Actor(
                ActorType.staff if user.is_platform_admin else ActorType.user, user.id
            ),
            before=before,
            after=after,
        )

    async def _verify_totp(
        self, session: AsyncSession, user: User, code: str, box: AeadBox
    ) -> None:
        assert user.totp_secret_ciphertext is not None
        invalid = TwoFactorCodeInvalid("This code is not right, or was already used.", param="otp")
        if not is_totp_code(code):
            raise invalid
        secret = box.decrypt(user.totp_secret_ciphertext, bound_to=user.id)
        step = matching_step(secret, code, utc_now(), user.totp_last_step)
        if step is None or not await TwoFactorRepository.from_session(session).claim_step(
            user.id, step
        ):
            raise invalid
        user.totp_last_step = step

    async def _new_recovery_codes(self, session: AsyncSession, user: User) -> list[str]:
        codes = new_recovery_codes()
        await TwoFactorRepository.from_session(session).replace_recovery_codes(
            user.id, [recovery_code_hash(user.id, code) for code in codes], utc_now()
        )
        return codes

    async def _enabled_user(self, session: AsyncSession, user_id: str) -> User:
        user = await self._user(session, user_id)
        if not self.enabled(user):
            raise TwoFactorNotEnabled("Two-factor sign-in is not on.")
        return user

    async def _user(self, session: AsyncSession, user_id: str) -> User:
        found = await UserRepository.from_session(session).get(user_id)
        if found is None:
            raise InvalidCredentials("This user no longer exists.")
        return found


two_factor = TwoFactorService()
