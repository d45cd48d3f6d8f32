"""Platform staff, as `/console/staff` lists and changes them (users with a `staff_role` or
`is_platform_admin`; users are not merchant-owned, no row-level security)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select

from mboa.kit.repository import RepositoryBase
from mboa.models import User


def _is_staff() -> ColumnElement[bool]:
    return or_(User.staff_role.is_not(None), User.is_platform_admin.is_(True))


class StaffRepository(RepositoryBase[User]):
    model = User

    async def staff(self) -> Sequence[User]:
        """Every staff member, oldest first."""
        result = await self.session.execute(
            select(User).where(_is_staff()).order_by(User.created_at, User.id)
        )
        return result.scalars().all()

    async def by_email_for_update(self, email: str) -> User | None:
        result = await self.session.execute(
            select(User)
            .where(User.email == email.lower())
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def lock_staff(self) -> Sequence[User]:
        """Every staff member's row, locked (in id order, so two changes never deadlock): a
        change that could remove a superadmin counts them after the lock, and a concurrent one
        waits, then sees the result (PostgreSQL re-reads a locked row that changed)."""
        result = await self.session.execute(
            select(User)
            .where(_is_staff())
            .order_by(User.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return result.scalars().all()
