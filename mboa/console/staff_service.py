"""Staff management (`/console/staff`, docs/going-live.md "Staff"): grant a staff role to an
existing user, change it, revoke it. A superadmin never changes or revokes themself, and the
platform always keeps one superadmin. Every change is in the audit log (`staff.granted`,
`staff.role_changed`, `staff.revoked`); a revocation also ends the user's login sessions, so
their console access stops on their next request."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.service import Action, Actor, ActorType, audit
from mboa.console.access import STAFF_ROLES, staff_role_of
from mboa.console.exceptions import (
    LastSuperadmin,
    StaffAlreadyGranted,
    StaffMemberNotFound,
    StaffRoleInvalid,
    StaffSelfChange,
    StaffUserNotFound,
)
from mboa.console.staff_repository import StaffRepository
from mboa.kit.time import utc_now
from mboa.models import User
from mboa.users.repository import UserSessionRepository
from mboa.users.two_factor import two_factor

SUPERADMIN = "superadmin"


@dataclasses.dataclass(frozen=True, slots=True)
class StaffMember:
    id: str
    email: str
    name: str | None
    role: str
    two_factor: bool
    disabled: bool
    created_at: dt.datetime


def _set_role(user: User, role: str | None) -> None:
    """`staff_role` decides in the console; `is_platform_admin` (the staff API's flag) goes
    with `superadmin` only."""
    user.staff_role = role
    user.is_platform_admin = role == SUPERADMIN


def _shown(user: User) -> StaffMember:
    return StaffMember(
        id=user.id,
        email=user.email,
        name=user.name,
        role=staff_role_of(user) or SUPERADMIN,
        two_factor=two_factor.enabled(user),
        disabled=user.disabled_at is not None,
        created_at=user.created_at,
    )


_SELF = "You cannot change or revoke your own staff access: another superadmin must."


def _check_role(role: str) -> None:
    if role not in STAFF_ROLES:
        raise StaffRoleInvalid(f"Choose a staff role: {', '.join(STAFF_ROLES)}.", param="role")


class StaffService:
    async def members(self, session: AsyncSession) -> list[StaffMember]:
        return [_shown(user) for user in await StaffRepository.from_session(session).staff()]

    async def member(self, session: AsyncSession, *, actor_id: str, user_id: str) -> StaffMember:
        """Another staff member (for the revocation's confirmation)."""
        if user_id == actor_id:
            raise StaffSelfChange(_SELF)
        user = await StaffRepository.from_session(session).get(user_id)
        if user is None or staff_role_of(user) is None:
            raise StaffMemberNotFound("This user is not a staff member.")
        return _shown(user)

    async def grant(self, session: AsyncSession, *, actor_id: str, email: str, role: str) -> User:
        """A staff role for an existing, enabled user who is not staff yet."""
        _check_role(role)
        repository = StaffRepository.from_session(session)
        await repository.lock_staff()
        user = await repository.by_email_for_update(email.strip())
        if user is None or user.disabled_at is not None:
            raise StaffUserNotFound(
                "No active user has this email; create the account with `mboa admin create`.",
                param="email",
            )
        if staff_role_of(user) is not None:
            raise StaffAlreadyGranted(
                "This user is already staff: change their role instead.", param="email"
            )
        _set_role(user, role)
        await session.flush()
        await audit.record(
            session,
            action=Action.staff_granted,
            target=("user", user.id),
            before={"role": None},
            after={"role": role, "email": user.email},
            actor=Actor(ActorType.staff, actor_id),
        )
        return user

    async def change_role(
        self, session: AsyncSession, *, actor_id: str, user_id: str, role: str
    ) -> User:
        _check_role(role)
        user, before, staff = await self._target(session, actor_id, user_id)
        if before == role:
            return user
        if before == SUPERADMIN:
            _keep_a_superadmin(staff, user)
        _set_role(user, role)
        await session.flush()
        await audit.record(
            session,
            action=Action.staff_role_changed,
            target=("user", user.id),
            before={"role": before},
            after={"role": role},
            actor=Actor(ActorType.staff, actor_id),
        )
        return user

    async def revoke(self, session: AsyncSession, *, actor_id: str, user_id: str) -> User:
        """No staff role any more, and every login session of the user ends now."""
        user, before, staff = await self._target(session, actor_id, user_id)
        if before == SUPERADMIN:
            _keep_a_superadmin(staff, user)
        _set_role(user, None)
        await session.flush()
        await UserSessionRepository.from_session(session).revoke_all(user.id, utc_now())
        await audit.record(
            session,
            action=Action.staff_revoked,
            target=("user", user.id),
            before={"role": before},
            after={"role": None},
            actor=Actor(ActorType.staff, actor_id),
        )
        return user

    async def _target(
        self, session: AsyncSession, actor_id: str, user_id: str
    ) -> tuple[User, str, list[User]]:
        """The staff member `user_id` (locked with every other staff member's row), their
        current role, and the staff."""
        if user_id == actor_id:
            raise StaffSelfChange(_SELF)
        staff = list(await StaffRepository.from_session(session).lock_staff())
        user = next((u for u in staff if u.id == user_id), None)
        role = staff_role_of(user) if user is not None else None
        if user is None or role is None:
            raise StaffMemberNotFound("This user is not a staff member.")
        return user, role, staff


def _keep_a_superadmin(staff: list[User], leaving: User) -> None:
    remaining = [
        u
        for u in staff
        if u.id != leaving.id and u.disabled_at is None and staff_role_of(u) == SUPERADMIN
    ]
    if not remaining:
        raise LastSuperadmin("This would leave no superadmin: make someone else superadmin first.")


staff_service = StaffService()
