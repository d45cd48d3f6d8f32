"""`/v1/payouts` (merchants) and `/v1/admin/payouts/{id}/approve|reject` (staff).

Creating and canceling a payout write the ledger (reserve, release), whose write functions only
the platform role may run: those two routes run as the platform role (`LedgerWriteRoute`) and the
service states the caller's merchant and mode on every row it reads or writes. Reads stay on the
tenant role under row-level security.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.config import PayoutsSettings
from mboa.console.access import StaffToken
from mboa.kit.openapi import error_responses
from mboa.kit.pagination import CreatedRange, ListParams, created_range, list_params
from mboa.kit.schemas import ListObject
from mboa.payouts.schemas import Payout, PayoutCreate
from mboa.payouts.service import payout as payout_service
from mboa.payouts.states import Status
from mboa.routing import ApiRoute, LedgerWriteRoute, PlatformRoute, SessionDep
from mboa.state import get_state

router = APIRouter(prefix="/payouts", tags=["Payouts"], route_class=ApiRoute)
writes = APIRouter(prefix="/payouts", tags=["Payouts"], route_class=LedgerWriteRoute)
admin_router = APIRouter(
    prefix="/admin/payouts", tags=["Platform admin"], route_class=PlatformRoute
)

PayoutsRead = Annotated[AuthSubject, Depends(ApiKeyAuth("payouts:read"))]
PayoutsWrite = Annotated[AuthSubject, Depends(ApiKeyAuth("payouts:write"))]
# The staff roles of the console (docs/going-live.md): the API follows the same rules.
Staff = Annotated[AuthSubject, Depends(StaffToken("payouts:approve"))]


async def _settings(request: Request) -> PayoutsSettings:
    # async: a plain function would cost every request a hop through the thread pool.
    return get_state(request).settings.payouts


SettingsDep = Annotated[PayoutsSettings, Depends(_settings)]


@writes.post("", response_model=Payout, responses=error_responses(400, 401, 403, 429))
async def create_payout(
    auth: PayoutsWrite, session: SessionDep, settings: SettingsDep, body: PayoutCreate
) -> Payout:
    """Send money from the available balance to a mobile-money wallet. The amount is reserved
    at once (a payout above the available balance is refused); the transfer follows. A live
    payout above the review threshold waits for the platform's approval."""
    return await payout_service.create(session, auth, body, settings)


@router.get("", response_model=ListObject[Payout], responses=error_responses(400, 401, 403, 429))
async def list_payouts(
    request: Request,
    auth: PayoutsRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    created: Annotated[CreatedRange, Depends(created_range)],
    status: Annotated[Status | None, Query()] = None,
) -> ListObject[Payout]:
    """List payouts, newest first."""
    rows, has_more = await payout_service.list(session, params, status=status, created=created)
    return ListObject(url=request.url.path, has_more=has_more, data=list(rows))


@router.get("/{payout_id}", response_model=Payout, responses=error_responses(401, 403, 404, 429))
async def retrieve_payout(payout_id: str, auth: PayoutsRead, session: SessionDep) -> Payout:
    """Retrieve a payout."""
    return await payout_service.retrieve(session, payout_id)


@writes.post(
    "/{payout_id}/cancel",
    response_model=Payout,
    responses=error_responses(401, 403, 404, 409, 429),
)
async def cancel_payout(payout_id: str, auth: PayoutsWrite, session: SessionDep) -> Payout:
    """Cancel a payout still `pending` (not handed to the operator yet); the funds come back to
    the available balance."""
    return await payout_service.cancel(session, auth, payout_id)


@admin_router.post(
    "/{payout_id}/approve", response_model=Payout, responses=error_responses(401, 403, 404, 409)
)
async def approve_payout(payout_id: str, auth: Staff, session: SessionDep) -> Payout:
    """Approve a live payout awaiting review: it is sent."""
    return await payout_service.approve(session, auth, payout_id)


@admin_router.post(
    "/{payout_id}/reject", response_model=Payout, responses=error_responses(401, 403, 404, 409)
)
async def reject_payout(payout_id: str, auth: Staff, session: SessionDep) -> Payout:
    """Reject a live payout awaiting review: it is canceled and the funds come back."""
    return await payout_service.reject(session, auth, payout_id)
