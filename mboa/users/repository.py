from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update

from mboa.kit.repository import RepositoryBase
from mboa.models import PasswordReset, SpentRefreshToken, User, UserSession


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

    async def session_that_spent(self, token_hash: str) -> str | None:
        """The id of the session that already used up this refresh token, if any."""
        result = await self.session.execute(
            select(SpentRefreshToken.session_id).where(SpentRefreshToken.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def spend(self, login: UserSession, now: dt.datetime) -> None:
        """Record the session's current token as spent (before it is replaced)."""
        await self.session.execute(
            insert(SpentRefreshToken).values(
                token_hash=login.refresh_token_hash, session_id=login.id, spent_at=now
            )
        )

    async def revoke_all(self, user_id: str, now: dt.datetime) -> None:
        await self.session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke(self, session_id: str, now: dt.datetime) -> None:
        await self.session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )


class PasswordResetRepository(RepositoryBase[PasswordReset]):
    model = PasswordReset

    async def by_token_hash(self, token_hash: str) -> PasswordReset | None:
        return await self.get_one_or_none(
            select(PasswordReset).where(PasswordReset.token_hash == token_hash).with_for_update()
        )

    async def lock(self, reset_id: str) -> PasswordReset | None:
        return await self.get_one_or_none(
            select(PasswordReset).where(PasswordReset.id == reset_id).with_for_update()
        )

    async def spend_all(self, user_id: str, now: dt.datetime) -> None:
        """Every unused link of the user stops working (one was used, or the password changed)."""
        await self.session.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
            .values(used_at=now)
        )
