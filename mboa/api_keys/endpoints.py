"""API key management, for the merchant's team (user access token + role), per mode."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from mboa.api_keys.schemas import ApiKey, ApiKeyCreate, ApiKeyRoll, to_schema
from mboa.api_keys.service import api_key as api_key_service
from mboa.auth.dependencies import MemberAuth
from mboa.auth.subject import AuthSubject
from mboa.kit.openapi import error_responses, list_response
from mboa.kit.pagination import ListParams, list_params
from mboa.kit.schemas import ListObject
from mboa.kit.time import from_unix
from mboa.merchants.service import merchant as merchant_service
from mboa.models import ApiKeyType
from mboa.routing import ApiRoute, SessionDep

router = APIRouter(
    prefix="/merchants/{merchant_id}/api_keys", tags=["API keys"], route_class=ApiRoute
)

KeysRead = Annotated[AuthSubject, Depends(MemberAuth("api_keys:read", mode_scoped=True))]
KeysWrite = Annotated[AuthSubject, Depends(MemberAuth("api_keys:write", mode_scoped=True))]
Livemode = Annotated[
    bool, Query(description="Act on live keys (true) or test keys (false, the default).")
]


@router.post("", response_model=ApiKey, responses=error_responses(400, 401, 403, 404, 409, 429))
async def create_api_key(
    merchant_id: str,
    auth: KeysWrite,
    session: SessionDep,
    body: Annotated[ApiKeyCreate | None, Body()] = None,
    livemode: Livemode = False,
) -> ApiKey:
    """Create a key. Its `secret` is in this response only: store it now."""
    body = body or ApiKeyCreate()
    merchant = await merchant_service.get(session, merchant_id)
    key, secret = await api_key_service.create(
        session,
        merchant=merchant,
        livemode=auth.livemode,
        key_type=ApiKeyType(body.type),
        name=body.name,
        scopes=body.scopes,
        expires_at=from_unix(body.expires_at) if body.expires_at is not None else None,
        created_by=auth.user_id,
    )
    return to_schema(key, secret)


@router.get("", response_model=ListObject[ApiKey], responses=error_responses(400, 401, 403, 404))
async def list_api_keys(
    request: Request,
    merchant_id: str,
    auth: KeysRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    livemode: Livemode = False,
) -> ListObject[ApiKey]:
    """List the merchant's keys in one mode, newest first (secrets are never shown again)."""
    rows, has_more = await api_key_service.list(
        session, merchant_id=merchant_id, livemode=auth.livemode, params=params
    )
    return list_response(request, rows, has_more, to_schema)


@router.get("/{key_id}", response_model=ApiKey, responses=error_responses(401, 403, 404))
async def retrieve_api_key(
    merchant_id: str, key_id: str, auth: KeysRead, session: SessionDep, livemode: Livemode = False
) -> ApiKey:
    """Retrieve a key (redacted)."""
    key = await api_key_service.get(
        session, merchant_id=merchant_id, livemode=auth.livemode, key_id=key_id
    )
    return to_schema(key)


@router.post("/{key_id}/roll", response_model=ApiKey, responses=error_responses())
async def roll_api_key(
    merchant_id: str,
    key_id: str,
    auth: KeysWrite,
    session: SessionDep,
    body: Annotated[ApiKeyRoll | None, Body()] = None,
    livemode: Livemode = False,
) -> ApiKey:
    """Replace a key with a new one; the old one keeps working for `expires_in` seconds."""
    body = body or ApiKeyRoll()
    merchant = await merchant_service.get(session, merchant_id)
    key = await api_key_service.get(
        session, merchant_id=merchant_id, livemode=auth.livemode, key_id=key_id
    )
    new_key, secret = await api_key_service.roll(
        session,
        merchant=merchant,
        key=key,
        overlap_seconds=body.expires_in,
        created_by=auth.user_id,
    )
    return to_schema(new_key, secret)


@router.post("/{key_id}/revoke", response_model=ApiKey, responses=error_responses())
async def revoke_api_key(
    merchant_id: str, key_id: str, auth: KeysWrite, session: SessionDep, livemode: Livemode = False
) -> ApiKey:
    """Revoke a key now. Requests made with it get 401 from this moment."""
    key = await api_key_service.get(
        session, merchant_id=merchant_id, livemode=auth.livemode, key_id=key_id
    )
    return to_schema(await api_key_service.revoke(session, key=key))
