from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from mboa.kit.repository import RepositoryBase
from mboa.models import User, UserSession


class UserRepository(RepositoryBase[User]):
    model = User

    async def get_by_email(self, email: str) -> User | None:
        return await self.get_one_or_none(select(User).where(User.email == email.lower()))

    async def get_active_with_session(
        self, user_id: str, session_id: str, *, now: dt.datetime
    ) -> tuple[User, UserSession] | None:
        statement = (
            select(User, UserSession)
            .join(UserSession, UserSession.user_id == User.id)
            .where(
                User.id == user_id,
                User.disabled_at.is_(None),
                UserSession.id == session_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > now,
            )
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])


class UserSessionRepository(RepositoryBase[UserSession]):
    model = UserSession

    async def get_by_token_hash_for_update(self, token_hash: str) -> UserSession | None:
        statement = (
            select(UserSession)
            .where(UserSession.refresh_token_hash == token_hash)
            .with_for_update()
        )
        return await self.get_one_or_none(statement)

    async def get_by_previous_hash(self, token_hash: str) -> UserSession | None:
        return await self.get_one_or_none(
            select(UserSession).where(UserSession.previous_token_hash == token_hash)
        )

    async def revoke(self, session_id: str, now: dt.datetime) -> None:
        await self.session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
