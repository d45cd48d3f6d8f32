"""`/v1/merchants/{merchant_id}/kyc`: the owner's side of going live (docs/going-live.md).

The team's access token and role decide who may act (`MemberAuth`, as the team API); the
transaction is the platform role's (`PlatformRoute`): a submission writes `account.updated` in
both modes, which the member's single-mode session could not. Every statement of
`mboa.kyc.repository` names the merchant the role was checked on, and tests call each route
with another merchant's id (404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from mboa.auth.dependencies import MemberAuth
from mboa.auth.subject import AuthSubject
from mboa.kit.openapi import error_responses
from mboa.kyc.documents import document_store
from mboa.kyc.schemas import DocumentKind, Kyc, KycDocumentObject, KycProfileUpdate
from mboa.kyc.service import kyc as kyc_service
from mboa.routing import PlatformRoute, SessionDep
from mboa.state import get_state

router = APIRouter(
    prefix="/merchants/{merchant_id}/kyc", tags=["Going live"], route_class=PlatformRoute
)
Reader = Annotated[AuthSubject, Depends(MemberAuth("account:read"))]
Writer = Annotated[AuthSubject, Depends(MemberAuth("account:write"))]


@router.get("", response_model=Kyc, responses=error_responses(401, 403, 404))
async def retrieve_kyc(merchant_id: str, auth: Reader, session: SessionDep) -> Kyc:
    """The business profile, the documents, the account's status and what is still missing."""
    return await kyc_service.view(session, merchant_id)


@router.post("", response_model=Kyc, responses=error_responses())
async def update_kyc(
    merchant_id: str, body: KycProfileUpdate, auth: Writer, session: SessionDep
) -> Kyc:
    """Fill in or change the business profile (any subset of its fields), before submitting or
    after a rejection."""
    return await kyc_service.update_profile(session, merchant_id, body)


@router.post(
    "/documents",
    response_model=KycDocumentObject,
    responses=error_responses(400, 401, 403, 404, 413, 415),
)
async def upload_kyc_document(
    request: Request,
    merchant_id: str,
    auth: Writer,
    session: SessionDep,
    kind: Annotated[DocumentKind, Form()],
    file: Annotated[UploadFile, File()],
) -> KycDocumentObject:
    """Upload one document (`multipart/form-data`: `kind` and `file`): a PDF, PNG or JPEG (read
    from its bytes), up to `MBOA_KYC__MAX_DOCUMENT_BYTES` (5 MB). A newer document of a kind
    replaces the older one for review."""
    settings = get_state(request).settings
    limit = settings.kyc.max_document_bytes
    data = await file.read(limit + 1)
    return await kyc_service.add_document(
        session,
        document_store(get_state(request)),
        merchant_id,
        kind=kind,
        filename=file.filename or kind,
        data=data,
        uploaded_by=auth.user_id,
        max_bytes=limit,
    )


@router.post("/submit", response_model=Kyc, responses=error_responses())
async def submit_kyc(merchant_id: str, auth: Writer, session: SessionDep) -> Kyc:
    """Hand the profile and the three documents to Mboa Pay's staff: `submitted` until they
    decide. A 400 `kyc_incomplete` lists every missing field and document."""
    return await kyc_service.submit(session, merchant_id)
