"""Platform staff: review merchants, approve them for live mode, suspend them.

These routes act across merchants, so their transaction runs as the platform role (`PlatformRoute`),
never as the tenant role. They follow the console's rules (docs/going-live.md): the staff roles'
permissions (`mboa.console.access.StaffToken`), two-factor sign-in when the console requires it,
approval only of a submitted application, and a reason for every decision.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from mboa.auth.subject import AuthSubject
from mboa.console.access import StaffToken
from mboa.kit.openapi import error_responses, list_response
from mboa.kit.pagination import ListParams, list_params
from mboa.kit.schemas import ListObject
from mboa.kyc.schemas import StaffDecision
from mboa.kyc.service import kyc as kyc_service
from mboa.ledger.fees import fee_plan
from mboa.ledger.schemas import FeePlanSet, FeePlanView
from mboa.merchants.schemas import AccountAdmin
from mboa.merchants.service import merchant as merchant_service
from mboa.models import Merchant, MerchantStatus
from mboa.providers.types import ProviderName
from mboa.routing import PlatformRoute, SessionDep

router = APIRouter(prefix="/admin", tags=["Platform admin"], route_class=PlatformRoute)
Reader = Annotated[AuthSubject, Depends(StaffToken("merchants:read"))]
Decider = Annotated[AuthSubject, Depends(StaffToken("kyc:decide"))]
FeeWriter = Annotated[AuthSubject, Depends(StaffToken("fee_plans:write"))]
_DECISION_ERRORS = error_responses(400, 401, 403, 404, 409, 429, 500)
"""409 `merchant_status_invalid`: the decision does not apply to the merchant's status."""


def admin_view(merchant: Merchant) -> AccountAdmin:
    view = AccountAdmin.model_validate(merchant)
    view.live_enabled = merchant.status is MerchantStatus.active
    return view


@router.get(
    "/merchants", response_model=ListObject[AccountAdmin], responses=error_responses(400, 401, 403)
)
async def list_merchants(
    request: Request,
    auth: Reader,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    status: Annotated[MerchantStatus | None, Query()] = None,
) -> ListObject[AccountAdmin]:
    """Every merchant, newest first, optionally filtered by status."""
    rows, has_more = await merchant_service.list_all(session, params, status)
    return list_response(request, rows, has_more, admin_view)


@router.get(
    "/merchants/{merchant_id}",
    response_model=AccountAdmin,
    responses=error_responses(401, 403, 404),
)
async def retrieve_merchant(merchant_id: str, auth: Reader, session: SessionDep) -> AccountAdmin:
    """One merchant, as staff see it."""
    return admin_view(await merchant_service.get(session, merchant_id))


async def _decide(
    session: SessionDep, auth: AuthSubject, merchant_id: str, action: str, reason: str
) -> AccountAdmin:
    assert auth.user_id is not None
    merchant = await kyc_service.decide(
        session, merchant_id, action=action, staff_id=auth.user_id, reason=reason
    )
    return admin_view(merchant)


@router.post(
    "/merchants/{merchant_id}/approve", response_model=AccountAdmin, responses=_DECISION_ERRORS
)
async def approve_merchant(
    merchant_id: str, body: StaffDecision, auth: Decider, session: SessionDep
) -> AccountAdmin:
    """Approve a submitted going-live application (profile and documents reviewed): its team
    can then create live keys. Any other status: 409 `merchant_status_invalid`."""
    return await _decide(session, auth, merchant_id, "approve", body.reason)


@router.post(
    "/merchants/{merchant_id}/reject", response_model=AccountAdmin, responses=_DECISION_ERRORS
)
async def reject_merchant(
    merchant_id: str, body: StaffDecision, auth: Decider, session: SessionDep
) -> AccountAdmin:
    """Refuse a submitted going-live application with the reason the owner reads; they may fix
    it and submit again (docs/going-live.md)."""
    return await _decide(session, auth, merchant_id, "reject", body.reason)


@router.post(
    "/merchants/{merchant_id}/suspend", response_model=AccountAdmin, responses=_DECISION_ERRORS
)
async def suspend_merchant(
    merchant_id: str, body: StaffDecision, auth: Decider, session: SessionDep
) -> AccountAdmin:
    """Block live mode for a merchant (test mode keeps working)."""
    return await _decide(session, auth, merchant_id, "suspend", body.reason)


@router.post(
    "/merchants/{merchant_id}/reactivate", response_model=AccountAdmin, responses=_DECISION_ERRORS
)
async def reactivate_merchant(
    merchant_id: str, body: StaffDecision, auth: Decider, session: SessionDep
) -> AccountAdmin:
    """Lift a suspension (back to `active`, or `sandbox` if the account was never approved)."""
    return await _decide(session, auth, merchant_id, "reactivate", body.reason)


@router.get(
    "/merchants/{merchant_id}/fee_plans",
    response_model=list[FeePlanView],
    responses=error_responses(401, 403, 404),
)
async def list_fee_plans(merchant_id: str, auth: Reader, session: SessionDep) -> list[FeePlanView]:
    """The fee plan that applies to the merchant for each operator: its own or the default."""
    await merchant_service.get(session, merchant_id)
    return [FeePlanView.of(plan) for plan in await fee_plan.plans_of(session, merchant_id)]


@router.post(
    "/merchants/{merchant_id}/fee_plans", response_model=FeePlanView, responses=error_responses()
)
async def set_fee_plan(
    merchant_id: str, body: FeePlanSet, auth: FeeWriter, session: SessionDep
) -> FeePlanView:
    """Give the merchant its own plan for one operator (it applies to collections posted from
    now on; those already posted keep their fee)."""
    await merchant_service.get(session, merchant_id)
    plan = await fee_plan.set_plan(
        session,
        merchant_id=merchant_id,
        operator=str(body.operator),
        currency=body.currency,
        percent_bps=body.percent_bps,
        fixed_amount=body.fixed_amount,
        settlement_delay_seconds=body.settlement_delay_seconds,
    )
    return FeePlanView.of(plan)


@router.delete(
    "/merchants/{merchant_id}/fee_plans/{operator}",
    response_model=FeePlanView,
    responses=error_responses(400, 401, 403, 404),
)
async def remove_fee_plan(
    merchant_id: str,
    operator: ProviderName,
    auth: FeeWriter,
    session: SessionDep,
    currency: Annotated[Literal["XAF"], Query()] = "XAF",
) -> FeePlanView:
    """Put the merchant back on the default plan for one operator; returns the plan that now
    applies. Removing a plan the merchant does not have changes nothing."""
    await merchant_service.get(session, merchant_id)
    plan = await fee_plan.remove_plan(
        session, merchant_id=merchant_id, operator=str(operator), currency=currency
    )
    return FeePlanView.of(plan)
