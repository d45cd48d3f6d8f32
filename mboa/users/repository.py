from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from mboa.kit.repository import RepositoryBase
from mboa.models import User, UserSession


class UserRepository(RepositoryBase[User]):
    model = User

    async def get_by_email(self, email: str) -> User | None:
        return await self.get_one_or_none(select(User).where(User.email == email.lower()))


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
