"""The look-ups that tell who is calling: an API key by its secret's hash, a user's live session,
a member's role on a merchant. Managing keys, users and members stays with their domains."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Self

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.models import MemberRole, MerchantMember, User, UserSession


@dataclasses.dataclass(frozen=True, slots=True)
class KeyForAuthentication:
    id: str
    merchant_id: str
    livemode: bool
    type: str
    scopes: list[str]
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    merchant_status: str


_KEY_LOOKUP = text(
    "SELECT id, merchant_id, livemode, type, scopes, expires_at, revoked_at, merchant_status"
    " FROM mboa_authenticate_api_key(:secret_hash)"
)
_RECORD_LAST_USED = text(
    "UPDATE api_keys AS k SET last_used_at = greatest(k.last_used_at, u.at)"
    " FROM unnest(CAST(:ids AS varchar[]), CAST(:ats AS timestamptz[])) AS u(id, at)"
    " WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)"
)


class AuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> Self:
        return cls(session)

    async def api_key(self, secret_hash: str) -> KeyForAuthentication | None:
        """Find a key by its secret's hash before any tenant is known (a definer function)."""
        row = (await self.session.execute(_KEY_LOOKUP, {"secret_hash": secret_hash})).one_or_none()
        if row is None:
            return None
        return KeyForAuthentication(*row)

    async def record_last_used(self, uses: dict[str, dt.datetime]) -> int:
        """Move each key's `last_used_at` forward to its time in `uses` (never back), in one
        statement for all of them; rows already as recent are not rewritten. Needs a role that
        sees every merchant's keys (the platform role). Returns the rows written."""
        ids = sorted(uses)
        result = await self.session.execute(
            _RECORD_LAST_USED, {"ids": ids, "ats": [uses[key_id] for key_id in ids]}
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def user_with_live_session(
        self, user_id: str, session_id: str, *, now: dt.datetime
    ) -> User | None:
        """The user, if enabled and if this session of theirs is neither revoked nor expired."""
        statement = (
            select(User)
            .join(UserSession, UserSession.user_id == User.id)
            .where(
                User.id == user_id,
                User.disabled_at.is_(None),
                UserSession.id == session_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
            )
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def member_role(self, merchant_id: str, user_id: str) -> MemberRole | None:
        """The user's role on the merchant; None if they are not a member."""
        role = (
            await self.session.execute(
                select(MerchantMember.role).where(
                    MerchantMember.merchant_id == merchant_id, MerchantMember.user_id == user_id
                )
            )
        ).scalar_one_or_none()
        return None if role is None else MemberRole(role)
