from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, File, Request, Response, UploadFile

from mboa.auth.dependencies import ApiKeyAuth, MemberAuth, UserAuth
from mboa.auth.subject import AuthSubject
from mboa.kit.openapi import error_responses, list_response
from mboa.kit.pagination import ListParams, list_params
from mboa.kit.schemas import ListObject
from mboa.merchants.schemas import (
    Account,
    Member,
    MemberCreate,
    MemberUpdate,
    MerchantCreate,
    MerchantUpdate,
)
from mboa.merchants.service import merchant as merchant_service
from mboa.models import Merchant, MerchantMember, MerchantStatus
from mboa.routing import ApiRoute, SessionDep
from mboa.state import get_state
from mboa.storage.exceptions import FileEmpty

router = APIRouter(tags=["Account"], route_class=ApiRoute)


def account_of(
    merchant: Merchant, livemode: bool = False, request: Request | None = None
) -> Account:
    account = Account.model_validate(merchant)
    account.livemode = livemode
    account.live_enabled = merchant.status is MerchantStatus.active
    if request is not None:
        state = get_state(request)
        account.logo_url = merchant_service.logo_url(
            state.url_signer, state.settings.storage, state.settings.base_url, merchant
        )
    return account


def member_of(member: MerchantMember) -> Member:
    return Member.model_validate(member)


@router.get("/account", response_model=Account, responses=error_responses(401, 403, 429))
async def retrieve_account(
    request: Request,
    auth: Annotated[AuthSubject, Depends(ApiKeyAuth("account:read"))],
    session: SessionDep,
) -> Account:
    """The merchant account the API key belongs to."""
    merchant = await merchant_service.get(session, auth.tenant.merchant_id)
    return account_of(merchant, auth.livemode, request)


@router.post("/merchants", response_model=Account, responses=error_responses(400, 401, 429))
async def create_merchant(
    body: MerchantCreate,
    auth: Annotated[AuthSubject, Depends(UserAuth())],
    session: SessionDep,
) -> Account:
    """Open another merchant account; the caller becomes its owner (sandbox until approved)."""
    assert auth.user_id is not None
    merchant, _ = await merchant_service.create(
        session, owner_user_id=auth.user_id, name=body.name, metadata=body.metadata
    )
    return account_of(merchant)


@router.get(
    "/merchants/{merchant_id}", response_model=Account, responses=error_responses(401, 403, 404)
)
async def retrieve_merchant(
    request: Request,
    merchant_id: str,
    auth: Annotated[AuthSubject, Depends(MemberAuth("account:read"))],
    session: SessionDep,
) -> Account:
    """Retrieve a merchant account you are a member of."""
    return account_of(await merchant_service.get(session, merchant_id), request=request)


@router.post("/merchants/{merchant_id}", response_model=Account, responses=error_responses())
async def update_merchant(
    request: Request,
    merchant_id: str,
    auth: Annotated[AuthSubject, Depends(MemberAuth("account:write"))],
    session: SessionDep,
    body: Annotated[MerchantUpdate | None, Body()] = None,
) -> Account:
    """Update the account's name or metadata."""
    merchant = await merchant_service.get(session, merchant_id)
    updated = await merchant_service.update(session, merchant, body or MerchantUpdate())
    return account_of(updated, request=request)


AccountWrite = Annotated[AuthSubject, Depends(MemberAuth("account:write"))]


@router.post(
    "/merchants/{merchant_id}/logo",
    response_model=Account,
    responses=error_responses(400, 401, 403, 404, 413, 415, 429),
)
async def upload_logo(
    request: Request,
    merchant_id: str,
    auth: AccountWrite,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="PNG, JPEG or WebP, at most 2 MB.")],
) -> Account:
    """Upload the merchant's logo (owners and admins), as the multipart field `file`. Its type
    is read from its content (PNG, JPEG or WebP); it is re-encoded to WebP within 256 px a
    side, its metadata (EXIF, GPS) dropped. Shown on the payment pages and on receipts; the
    account's `logo_url` serves it."""
    state = get_state(request)
    data = await file.read(state.settings.storage.max_logo_bytes + 1)
    if not data:
        raise FileEmpty("The file is empty.", param="file")
    merchant = await merchant_service.get(session, merchant_id)
    updated = await merchant_service.set_logo(
        session, state.storage, state.settings.storage, merchant, data
    )
    return account_of(updated, request=request)


@router.delete(
    "/merchants/{merchant_id}/logo",
    response_model=Account,
    responses=error_responses(400, 401, 403, 404, 429),
)
async def delete_logo(
    request: Request, merchant_id: str, auth: AccountWrite, session: SessionDep
) -> Account:
    """Remove the merchant's logo (owners and admins)."""
    state = get_state(request)
    merchant = await merchant_service.get(session, merchant_id)
    updated = await merchant_service.remove_logo(session, state.storage, merchant)
    return account_of(updated, request=request)


TeamRead = Annotated[AuthSubject, Depends(MemberAuth("team:read"))]
TeamWrite = Annotated[AuthSubject, Depends(MemberAuth("team:write"))]


@router.get(
    "/merchants/{merchant_id}/members",
    response_model=ListObject[Member],
    responses=error_responses(400, 401, 403, 404),
    tags=["Team"],
)
async def list_members(
    request: Request,
    merchant_id: str,
    auth: TeamRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> ListObject[Member]:
    """The merchant's team and each member's role."""
    rows, has_more = await merchant_service.list_members(session, merchant_id, params)
    return list_response(request, rows, has_more, member_of)


@router.post(
    "/merchants/{merchant_id}/members",
    response_model=Member,
    responses=error_responses(400, 401, 403, 404, 409),
    tags=["Team"],
)
async def add_member(
    merchant_id: str, body: MemberCreate, auth: TeamWrite, session: SessionDep
) -> Member:
    """Add a signed-up user to the team with a role."""
    member = await merchant_service.add_member(
        session, merchant_id=merchant_id, email=body.email, role=body.role, actor_role=auth.role
    )
    return member_of(member)


@router.post(
    "/merchants/{merchant_id}/members/{member_id}",
    response_model=Member,
    responses=error_responses(400, 401, 403, 404),
    tags=["Team"],
)
async def update_member(
    merchant_id: str, member_id: str, body: MemberUpdate, auth: TeamWrite, session: SessionDep
) -> Member:
    """Change a member's role."""
    member = await merchant_service.get_member(session, merchant_id, member_id)
    updated = await merchant_service.change_role(
        session, member=member, role=body.role, actor_role=auth.role
    )
    return member_of(updated)


@router.delete(
    "/merchants/{merchant_id}/members/{member_id}",
    status_code=204,
    responses=error_responses(400, 401, 403, 404),
    tags=["Team"],
)
async def remove_member(
    merchant_id: str, member_id: str, auth: TeamWrite, session: SessionDep
) -> Response:
    """Remove a member from the team."""
    member = await merchant_service.get_member(session, merchant_id, member_id)
    await merchant_service.remove_member(session, member=member, actor_role=auth.role)
    return Response(status_code=204)
