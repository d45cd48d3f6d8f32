"""Staff management in the console, `/console/staff` (docs/going-live.md "Staff"), for the
`staff:manage` permission (superadmins): the staff list (role, two-factor sign-in, since when),
granting a role to an existing user by email, changing a role, revoking access. The rules live
in `mboa.console.staff_service`; the forms carry the session's CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from mboa.console.access import STAFF_ROLES, Staff, StaffViewer
from mboa.console.pages import PREFIX, ConsoleRoute, _flash_response, _form, _page
from mboa.console.staff_service import staff_service
from mboa.dashboard.exceptions import FormInvalid
from mboa.routing import SessionDep

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

Manager = Annotated[StaffViewer, Depends(Staff("staff:manage"))]
BACK = f"{PREFIX}/staff"
MAX_EMAIL = 320


def _role(fields: dict[str, str]) -> str:
    role = fields.get("role") or ""
    if role not in STAFF_ROLES:
        raise FormInvalid("Choose a staff role.", param="role")
    return role


@router.get("/staff")
async def staff_list(request: Request, staff: Manager, session: SessionDep) -> Response:
    """Every staff member (email, name, role, two-factor sign-in, since when) and the forms."""
    rows = await staff_service.members(session)
    return _page(request, "console/staff.html", staff, rows=rows, roles=STAFF_ROLES)


@router.post("/staff")
async def grant(request: Request, staff: Manager, session: SessionDep) -> Response:
    """A staff role for an existing user, by email."""
    fields = await _form(request, staff, BACK)
    email = (fields.get("email") or "").strip()
    if not email or len(email) > MAX_EMAIL or "@" not in email:
        raise FormInvalid("Enter the person's email.", param="email", code="email_invalid")
    await staff_service.grant(session, actor_id=staff.user_id, email=email, role=_role(fields))
    return _flash_response(request, BACK, {"notice": "staff_granted"})


@router.post("/staff/{user_id}/role")
async def change_role(
    request: Request, user_id: str, staff: Manager, session: SessionDep
) -> Response:
    """Another staff member's new role."""
    fields = await _form(request, staff, BACK)
    await staff_service.change_role(
        session, actor_id=staff.user_id, user_id=user_id[:40], role=_role(fields)
    )
    return _flash_response(request, BACK, {"notice": "staff_role_changed"})


@router.get("/staff/{user_id}/revoke")
async def confirm_revoke(
    request: Request, user_id: str, staff: Manager, session: SessionDep
) -> Response:
    """Revoking asks first: it ends the staff member's sessions."""
    member = await staff_service.member(session, actor_id=staff.user_id, user_id=user_id[:40])
    return _page(request, "console/confirm_revoke.html", staff, member=member)


@router.post("/staff/{user_id}/revoke")
async def revoke(request: Request, user_id: str, staff: Manager, session: SessionDep) -> Response:
    """No more staff access for another staff member; their login sessions end now."""
    await _form(request, staff, BACK)
    await staff_service.revoke(session, actor_id=staff.user_id, user_id=user_id[:40])
    return _flash_response(request, BACK, {"notice": "staff_revoked"})
