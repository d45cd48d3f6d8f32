"""Who may open the staff console and do what (docs/going-live.md).

Staff are users with a `staff_role` (`users.staff_role`; `is_platform_admin` counts as
`superadmin`). They sign in on the dashboard's sign-in page (the same session cookie and
CSRF tokens: `mboa.dashboard.signin`); every console route then checks the role's permission
here, and a second factor (`staff_has_two_factor`, behind `MBOA_CONSOLE__REQUIRE_TWO_FACTOR`).
Without one, only the enrolment page opens (`ENROL_PATH`, `Staff(..., enrolling=True)`): a page
sends them there, a POST is refused (403 `two_factor_required`).

The staff API (`/v1/admin/*`, a user access token from `POST /v1/auth/login`) follows the same
rules through `StaffToken`: the same roles and permissions, and the same second-factor
requirement (a staff member without two-factor sign-in is refused there too)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Final

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.dependencies import authenticate_user
from mboa.auth.openapi import BearerScheme
from mboa.auth.subject import AuthSubject, SubjectKind
from mboa.console.exceptions import (
    NotStaff,
    StaffPermissionDenied,
    StaffRoleNotPermitted,
    TwoFactorRequired,
)
from mboa.console.repository import ConsoleRepository
from mboa.console.service import staff_subject
from mboa.dashboard.signin import choose_locale, csrf_token, signed_in_user
from mboa.models import User
from mboa.routing import get_session
from mboa.state import get_state
from mboa.users.two_factor import two_factor

_READ = frozenset({"merchants:read", "payouts:read", "health:read", "ledger:verify", "audit:read"})
ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "support": _READ,
    "compliance": _READ | {"kyc:decide", "notes:write"},
    "finance": _READ | {"payouts:approve", "fee_plans:write", "notes:write"},
    "superadmin": _READ
    | {"kyc:decide", "notes:write", "payouts:approve", "fee_plans:write", "staff:manage"},
}
STAFF_ROLES: Final = tuple(ROLE_PERMISSIONS)
ENROL_PATH: Final = "/console/security"
"""The page where a staff member sets up two-factor sign-in (`mboa/console/security.py`)."""


def staff_role_of(user: User) -> str | None:
    if user.staff_role in ROLE_PERMISSIONS:
        return user.staff_role
    return "superadmin" if user.is_platform_admin else None


def staff_has_two_factor(user: User) -> bool:
    """Whether the staff member has turned on two-factor sign-in (TOTP, the Security page);
    their console session then began with a code (docs/dashboard.md "Two-factor sign-in")."""
    return two_factor.enabled(user)


async def _staff_member(
    request: Request, session: AsyncSession, user_id: str, not_staff: str
) -> tuple[User, str, bool]:
    """The signed-in user as staff, for the console's pages and the staff API alike: the user,
    their role, and whether they still lack the second factor the console requires (`locked`).
    403 `platform_admin_required` (with `not_staff`) for anyone else."""
    user = await ConsoleRepository.from_session(session).user(user_id)
    role = staff_role_of(user) if user is not None else None
    if user is None or role is None:
        raise NotStaff(not_staff)
    require = get_state(request).settings.console.require_two_factor
    return user, role, require and not staff_has_two_factor(user)


@dataclasses.dataclass(frozen=True, slots=True)
class StaffViewer:
    user_id: str
    session_id: str
    email: str
    name: str | None
    role: str
    locale: str
    csrf: str
    locked: bool = False
    """The console needs a second factor this staff member has not set up: only the enrolment
    page (and signing out) opens."""

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


class Staff:
    """A console page's authenticator: signed in (else the sign-in page), staff, second factor,
    and the role's `permission` (else 403). `enrolling`: the enrolment page and signing out,
    open to staff without a second factor (`StaffViewer.locked`)."""

    def __init__(self, permission: str | None, *, enrolling: bool = False) -> None:
        self.permission = permission
        self.enrolling = enrolling

    async def __call__(
        self, request: Request, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> StaffViewer:
        state = get_state(request)
        signed_in = await signed_in_user(request, session)
        user, role, locked = await _staff_member(
            request, session, signed_in.user_id, "Only Mboa Pay staff may open the console."
        )
        if locked and not self.enrolling:
            raise TwoFactorRequired("Turn on two-factor authentication to open the console.")
        viewer = StaffViewer(
            user_id=user.id,
            session_id=signed_in.session_id,
            email=user.email,
            name=user.name,
            role=role,
            locale=choose_locale(request, user.locale),
            csrf=csrf_token(request, signed_in.session_id),
            locked=locked,
        )
        request.state.staff = viewer
        # Who acts, for the audit log (`AuditContext.current` reads the request's `auth`): the
        # console's decisions, notes, fee plans and payout reviews are this staff member's.
        request.state.auth = staff_subject(user.id)
        await state.rate_limiter.hit_key(user.id, livemode=False)
        if self.permission is not None and not viewer.can(self.permission):
            raise StaffRoleNotPermitted(
                f"The {role} role does not allow this ('{self.permission}')."
            )
        return viewer


class StaffToken(BearerScheme):
    """A staff API route's authenticator (`/v1/admin/*`): a user access token whose user is
    staff (else 403 `platform_admin_required`), has two-factor sign-in when the console requires
    it (else 403 `two_factor_required`: the API is no way around the console's rule), and whose
    role holds `permission` (else 403 `permission_denied`, naming it)."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(
        self, request: Request, session: Annotated[AsyncSession, Depends(get_session)]
    ) -> AuthSubject:
        state = get_state(request)
        signed_in = await authenticate_user(request, session)
        user, role, locked = await _staff_member(
            request, session, signed_in.user_id, "Only Mboa Pay staff may do this."
        )
        if locked:
            raise TwoFactorRequired(
                "Staff must turn on two-factor authentication (the console's Security page)"
                " before using the staff API."
            )
        subject = AuthSubject(
            kind=SubjectKind.user,
            permissions=ROLE_PERMISSIONS[role],
            user_id=user.id,
            session_id=signed_in.session_id,
            is_platform_admin=True,
        )
        # Who acts, for the audit log (`AuditContext.current` reads the request's `auth`).
        request.state.auth = subject
        await state.rate_limiter.hit_key(user.id, livemode=False)
        if not subject.can(self.permission):
            raise StaffPermissionDenied(
                f"The {role} staff role does not have the '{self.permission}' permission"
                " this request needs."
            )
        return subject
