"""The owner's "Go live" page, `/dashboard/activate` (docs/going-live.md): the business profile,
the three documents, the submission; the status, and after a rejection its reason and a new
submission. Every action calls `mboa.kyc.service`, as `/v1/merchants/{id}/kyc` does; the writes
run as the platform role (`DashboardLedgerRoute`: `account.updated` is written in both modes)
and name the member's merchant on every statement."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from mboa.dashboard.exceptions import FormInvalid
from mboa.dashboard.pages import PREFIX, DashboardLedgerRoute, _flash_response, _page
from mboa.dashboard.signin import Member, Viewer, checked_form
from mboa.kyc.documents import document_store
from mboa.kyc.schemas import DOCUMENT_KINDS, PROFILE_FIELDS, KycProfileUpdate
from mboa.kyc.service import kyc as kyc_service
from mboa.routing import SessionDep
from mboa.state import get_state

PAGE = f"{PREFIX}/activate"
router = APIRouter(prefix=PAGE, route_class=DashboardLedgerRoute, include_in_schema=False)

Reader = Annotated[Viewer, Depends(Member("account:read"))]
Writer = Annotated[Viewer, Depends(Member("account:write"))]
OPERATORS = ("mtn_momo", "orange_money")


@router.get("")
async def activate(request: Request, viewer: Reader, session: SessionDep) -> Response:
    """Where the account stands on going live, and the forms to get there."""
    view = await kyc_service.view(session, viewer.subject.tenant.merchant_id)
    return _page(
        request,
        "activate.html",
        viewer.locale,
        viewer=viewer,
        kyc=view,
        kinds=DOCUMENT_KINDS,
        operators=OPERATORS,
        documents={d.kind: d for d in view.documents},
    )


def _profile(fields: dict[str, str]) -> KycProfileUpdate:
    given: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if name not in fields:
            continue
        value = fields[name].strip()
        if name == "expected_monthly_volume":
            digits = "".join(c for c in value if c.isdigit())[:14]
            given[name] = int(digits) if digits else None
        elif name == "settlement_operator":
            given[name] = value or None
        else:
            given[name] = value
    return KycProfileUpdate(**given)


@router.post("")
async def save_profile(request: Request, viewer: Writer, session: SessionDep) -> Response:
    """Save the business profile (any time before submitting, or after a rejection)."""
    assert viewer.subject.session_id is not None
    request.state.back = PAGE
    fields = await checked_form(request, viewer.subject.session_id)
    request.state.typed = {"profile": {k: fields.get(k, "")[:300] for k in PROFILE_FIELDS}}
    try:
        update = _profile(fields)
    except ValidationError as exc:
        param = str(exc.errors()[0]["loc"][0]) if exc.errors() else None
        raise FormInvalid("The profile is not valid.", param=param) from exc
    await kyc_service.update_profile(session, viewer.subject.tenant.merchant_id, update)
    return _flash_response(request, PAGE, {"notice": "kyc_profile_saved"})


@router.post("/documents")
async def upload_document(request: Request, viewer: Writer, session: SessionDep) -> Response:
    """Upload one document (PDF, PNG or JPEG; its type is read from its bytes)."""
    assert viewer.subject.session_id is not None
    request.state.back = PAGE
    fields = await checked_form(request, viewer.subject.session_id)
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile):
        raise FormInvalid("Choose a file.", param="file")
    settings = get_state(request).settings
    limit = settings.kyc.max_document_bytes
    await kyc_service.add_document(
        session,
        document_store(get_state(request)),
        viewer.subject.tenant.merchant_id,
        kind=fields.get("kind") or "",
        filename=upload.filename or "",
        data=await upload.read(limit + 1),
        uploaded_by=viewer.subject.user_id,
        max_bytes=limit,
    )
    return _flash_response(request, PAGE, {"notice": "kyc_document_saved"})


@router.post("/submit")
async def submit(request: Request, viewer: Writer, session: SessionDep) -> Response:
    """Send the application to Mboa Pay's staff."""
    assert viewer.subject.session_id is not None
    request.state.back = PAGE
    await checked_form(request, viewer.subject.session_id)
    await kyc_service.submit(session, viewer.subject.tenant.merchant_id)
    return _flash_response(request, PAGE, {"notice": "kyc_submitted"})


@router.get("/documents/{document_id}")
async def document(
    request: Request, document_id: str, viewer: Reader, session: SessionDep
) -> Response:
    """One of the account's own documents, inline (another account's id: 404)."""
    found = await kyc_service.document(session, viewer.subject.tenant.merchant_id, document_id)
    data = await kyc_service.document_bytes(document_store(get_state(request)), found)
    return Response(
        data,
        media_type=found.content_type,
        headers={
            "content-disposition": f'inline; filename="{found.id}"',
            "content-security-policy": "default-src 'none'; img-src 'self'; object-src 'self'",
        },
    )
