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
