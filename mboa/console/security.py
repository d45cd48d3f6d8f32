"""The console's enrolment page, `/console/security` (docs/going-live.md "Second factor"): the
one console page open to staff without a second factor, as GitHub and Stripe do when they
enforce one. Every other console page sends them here (a POST is refused, 403
`two_factor_required`). Staff usually belong to no merchant, so the dashboard's Security page
is not theirs; this page calls the same service (`mboa.users.two_factor`) and shares the
dashboard's QR code and code limits (`mboa.dashboard.two_factor_forms`).

Not enrolled: start (a QR code and the key), confirm with a code, the recovery codes once, then
the console opens. Enrolled: the state and new recovery codes for a current code. Turning it
off is not offered here (the console requires it). `POST /console/logout` signs out."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mboa.console.access import ENROL_PATH, Staff, StaffViewer
from mboa.console.pages import PREFIX, ConsoleRoute, _form, _page
from mboa.dashboard.signin import SESSION_COOKIE
from mboa.dashboard.two_factor_forms import check_code_limits, code_attempt, grouped, qr_data_uri
from mboa.routing import SessionDep
from mboa.state import get_state
from mboa.users.service import user as user_service
from mboa.users.two_factor import totp_box, two_factor

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

Enrolling = Annotated[StaffViewer, Depends(Staff(None, enrolling=True))]


@router.get("/security")
async def security(request: Request, staff: Enrolling, session: SessionDep) -> Response:
    """Two-factor sign-in: set it up (QR code, key, a confirming code), or its state."""
    status = await two_factor.status(session, staff.user_id, totp_box(get_state(request).settings))
    return _page(
        request,
        "console/security.html",
        staff,
        two_factor=status,
        secret=grouped(status.pending_secret) if status.pending_secret else None,
        qr=qr_data_uri(status.provisioning_uri) if status.provisioning_uri else None,
    )


@router.post("/security/two-factor/start")
async def two_factor_start(request: Request, staff: Enrolling, session: SessionDep) -> Response:
    """A new secret for an authenticator app (not on until a code confirms it)."""
    await _form(request, staff, ENROL_PATH)
    await two_factor.start(session, staff.user_id, totp_box(get_state(request).settings))
    return RedirectResponse(f"{ENROL_PATH}#confirm", status_code=303)


def _codes_page(
    request: Request, staff: StaffViewer, codes: list[str], *, enabled_now: bool
) -> HTMLResponse:
    """The recovery codes, in clear this once (the POST's answer, never cached)."""
    return _page(
        request, "console/recovery_codes.html", staff, codes=codes, enabled_now=enabled_now
    )


@router.post("/security/two-factor/confirm")
async def two_factor_confirm(request: Request, staff: Enrolling, session: SessionDep) -> Response:
    """A current code turns two-factor sign-in on; the recovery codes are shown once, then the
    console opens."""
    fields = await _form(request, staff, ENROL_PATH)
    await check_code_limits(request, staff.email)
    async with code_attempt(request, staff.email):
        codes = await two_factor.confirm(
            session,
            staff.user_id,
            (fields.get("code") or "")[:40],
            totp_box(get_state(request).settings),
        )
    return _codes_page(request, dataclasses.replace(staff, locked=False), codes, enabled_now=True)


@router.post("/security/recovery-codes")
async def recovery_codes(request: Request, staff: Enrolling, session: SessionDep) -> Response:
    """New recovery codes for a current code (the old ones stop working)."""
    fields = await _form(request, staff, ENROL_PATH)
    await check_code_limits(request, staff.email)
    async with code_attempt(request, staff.email):
        codes = await two_factor.regenerate_recovery_codes(
            session,
            staff.user_id,
            (fields.get("code") or "")[:40],
            totp_box(get_state(request).settings),
        )
    return _codes_page(request, staff, codes, enabled_now=False)


@router.post("/logout")
async def logout(request: Request, staff: Enrolling, session: SessionDep) -> Response:
    """Sign out: the login session ends now (staff need no merchant for it)."""
    await _form(request, staff, ENROL_PATH)
    await user_service.logout(session, session_id=staff.session_id)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
