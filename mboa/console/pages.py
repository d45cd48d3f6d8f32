"""The staff console under `/console` (docs/going-live.md): server-rendered pages on the API's
transaction boundary, as the platform role (it acts across merchants), behind the dashboard's
sign-in (the same cookie and CSRF tokens) and a staff role (`access.Staff`). Decisions call the
same services as the staff API."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mboa.audit.service import audit as audit_service
from mboa.console.access import ENROL_PATH, Staff, StaffViewer
from mboa.console.exceptions import TwoFactorRequired
from mboa.console.service import console
from mboa.dashboard.exceptions import FormInvalid
from mboa.dashboard.messages import error_message
from mboa.dashboard.pages import AUDIT_PAGE_SIZE, DashboardRoute, audit_filters
from mboa.dashboard.rendering import PAGE_CSP, render
from mboa.dashboard.signin import checked_form, choose_locale, set_cookie
from mboa.exceptions import BadRequest, MboaError, Unauthorized
from mboa.kit.pagination import ListParams
from mboa.kit.time import utc_now
from mboa.kyc.documents import document_store
from mboa.kyc.schemas import StaffDecision
from mboa.kyc.service import DECISIONS
from mboa.kyc.service import kyc as kyc_service
from mboa.models import MerchantStatus
from mboa.providers.types import ProviderName
from mboa.routing import SessionDep
from mboa.state import get_state
from mboa.web import csrf
from mboa.web.flash import FlashCookie

PREFIX = "/console"
FLASH = FlashCookie("mboa_console_flash", path=PREFIX)
HEADERS = {"content-security-policy": PAGE_CSP}
DECISION_PERMISSION = "kyc:decide"


def _flash_response(request: Request, target: str, flash: dict[str, Any]) -> Response:
    response = RedirectResponse(target, status_code=303)
    FLASH.set(request, response, flash)
    return response


class ConsoleRoute(DashboardRoute):
    """The platform role's session (every merchant); errors as the dashboard's, with the
    console's own pages."""

    def sessions(self, request: Request) -> async_sessionmaker[AsyncSession]:
        return get_state(request).db.platform_sessions

    def error_response(self, request: Request, exc: MboaError) -> Response:
        if isinstance(exc, Unauthorized):
            return super().error_response(request, exc)
        if isinstance(exc, TwoFactorRequired) and request.method == "GET":
            # Staff without a second factor: to the enrolment page (a POST stays a 403).
            return RedirectResponse(ENROL_PATH, status_code=303)
        if request.method == "POST" and getattr(request.state, "back", None):
            return _flash_response(request, request.state.back, {"code": exc.code})
        staff = getattr(request.state, "staff", None)
        locale = staff.locale if staff else choose_locale(request, None)
        html = render(
            "console/message.html",
            locale,
            staff=staff,
            title=error_message(exc.code, locale),
            code=exc.code,
            status=exc.status_code,
            path=request.url.path,
        )
        return HTMLResponse(html, status_code=exc.status_code, headers=HEADERS)


router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)

Reader = Annotated[StaffViewer, Depends(Staff("merchants:read"))]
Compliance = Annotated[StaffViewer, Depends(Staff(DECISION_PERMISSION))]
NoteWriter = Annotated[StaffViewer, Depends(Staff("notes:write"))]
Finance = Annotated[StaffViewer, Depends(Staff("payouts:approve"))]
FeeWriter = Annotated[StaffViewer, Depends(Staff("fee_plans:write"))]
HealthReader = Annotated[StaffViewer, Depends(Staff("health:read"))]
PayoutReader = Annotated[StaffViewer, Depends(Staff("payouts:read"))]
Verifier = Annotated[StaffViewer, Depends(Staff("ledger:verify"))]
AuditReader = Annotated[StaffViewer, Depends(Staff("audit:read"))]


def _page(request: Request, template: str, staff: StaffViewer, **context: Any) -> HTMLResponse:
    flash = FLASH.read(request)
    html = render(
        template,
        staff.locale,
        staff=staff,
        error=error_message(flash.get("code"), staff.locale) if flash.get("code") else None,
        notice=flash.get("notice"),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, headers=HEADERS)
    fresh = getattr(request.state, "new_csrf_cookie", None)
    if fresh is not None:
        set_cookie(request, response, csrf.COOKIE, fresh)
    FLASH.clear(request, response)
    return response


async def _form(request: Request, staff: StaffViewer, back: str) -> dict[str, str]:
    request.state.back = back
    return await checked_form(request, staff.session_id)


def _int(value: str | None, param: str) -> int:
    text = (value or "").strip().replace(" ", "")
    if not text.isdigit() or len(text) > 12:
        raise FormInvalid(f"{param} must be a whole number.", param=param)
    return int(text)


# -- queues and merchants ---------------------------------------------------------------------


@router.get("")
async def home(request: Request, staff: Reader, session: SessionDep) -> Response:
    """The queues: applications to review, payouts to approve."""
    submitted, counts = await console.merchants(session, search=None, status="submitted")
    payouts = await console.payouts_awaiting(session)
    return _page(
        request, "console/home.html", staff, submitted=submitted, counts=counts, payouts=payouts
    )


@router.get("/merchants")
async def merchants(request: Request, staff: Reader, session: SessionDep) -> Response:
    """Every merchant: search by name, id or an owner's email; filter by status."""
    query = request.query_params
    status = query.get("status") if query.get("status") in MerchantStatus.__members__ else None
    search = (query.get("q") or "").strip()[:100] or None
    rows, counts = await console.merchants(session, search=search, status=status)
    return _page(
        request,
        "console/merchants.html",
        staff,
        rows=rows,
        counts=counts,
        status=status,
        q=search or "",
        statuses=list(MerchantStatus.__members__),
    )


@router.get("/merchants/{merchant_id}")
async def merchant(
    request: Request, merchant_id: str, staff: Reader, session: SessionDep
) -> Response:
    """One merchant: profile and documents, team, keys, balances, fee plans, payments, notes;
    the decisions the staff member's role allows."""
    view = await console.merchant_page(session, get_state(request).db, merchant_id)
    return _page(
        request,
        "console/merchant.html",
        staff,
        view=view,
        providers=[p.value for p in ProviderName],
    )


@router.get("/merchants/{merchant_id}/documents/{document_id}")
async def document(
    request: Request, merchant_id: str, document_id: str, staff: Reader, session: SessionDep
) -> Response:
    """A KYC document's bytes, inline, for staff only (never cached, never framed elsewhere)."""
    found = await kyc_service.document(session, merchant_id, document_id)
    data = await kyc_service.document_bytes(document_store(get_state(request)), found)
    return Response(
        data,
        media_type=found.content_type,
        headers={
            "content-disposition": f'inline; filename="{found.id}"',
            "content-security-policy": "default-src 'none'; img-src 'self'; object-src 'self'",
            "x-content-type-options": "nosniff",
        },
    )


@router.post("/merchants/{merchant_id}/decision")
async def decide(
    request: Request, merchant_id: str, staff: Compliance, session: SessionDep
) -> Response:
    """Approve, reject, suspend or reactivate, with the reason the owner is told."""
    back = f"{PREFIX}/merchants/{merchant_id}"
    fields = await _form(request, staff, back)
    action = fields.get("action") or ""
    if action not in DECISIONS:
        raise FormInvalid("Choose a decision.", param="action")
    try:
        decision = StaffDecision(reason=fields.get("reason") or "")
    except ValidationError as exc:
        raise FormInvalid("Give the reason for this decision.", param="reason") from exc
    await kyc_service.decide(
        session, merchant_id, action=action, staff_id=staff.user_id, reason=decision.reason
    )
    return _flash_response(request, back, {"notice": f"decision_{action}"})


@router.post("/merchants/{merchant_id}/notes")
async def add_note(
    request: Request, merchant_id: str, staff: NoteWriter, session: SessionDep
) -> Response:
    """A risk note about the merchant (staff only ever read them)."""
    back = f"{PREFIX}/merchants/{merchant_id}"
    fields = await _form(request, staff, back)
    body = (fields.get("body") or "").strip()
    if not body or len(body) > 2000:
        raise FormInvalid("Write the note (up to 2,000 characters).", param="body")
    await kyc_service.add_note(session, merchant_id, author_id=staff.user_id, body=body)
    return _flash_response(request, back, {"notice": "note_added"})


@router.post("/merchants/{merchant_id}/fee_plans")
async def set_fee_plan(
    request: Request, merchant_id: str, staff: FeeWriter, session: SessionDep
) -> Response:
    """The merchant's own fee plan for one operator (the staff API's service)."""
    back = f"{PREFIX}/merchants/{merchant_id}"
    fields = await _form(request, staff, back)
    try:
        operator = ProviderName(fields.get("operator") or "")
    except ValueError as exc:
        raise FormInvalid("Choose an operator.", param="operator") from exc
    await console.set_fee_plan(
        session,
        merchant_id,
        operator=operator,
        percent_bps=_int(fields.get("percent_bps"), "percent_bps"),
        fixed_amount=_int(fields.get("fixed_amount"), "fixed_amount"),
        settlement_delay_seconds=_int(
            fields.get("settlement_delay_seconds"), "settlement_delay_seconds"
        ),
    )
    return _flash_response(request, back, {"notice": "fee_plan_set"})


# -- payouts, providers, ledger ----------------------------------------------------------------


@router.get("/payouts")
async def payouts(request: Request, staff: PayoutReader, session: SessionDep) -> Response:
    """Live payouts above the threshold, waiting for a staff decision (oldest first)."""
    rows = await console.payouts_awaiting(session)
    return _page(request, "console/payouts.html", staff, rows=rows)


@router.post("/payouts/{payout_id}/{verdict}")
async def review_payout(
    request: Request, payout_id: str, verdict: str, staff: Finance, session: SessionDep
) -> Response:
    """Approve (the transfer leaves) or reject (the money goes back to the balance)."""
    back = f"{PREFIX}/payouts"
    await _form(request, staff, back)
    if verdict not in ("approve", "reject"):
        raise FormInvalid("Approve or reject.", param="verdict")
    await console.review_payout(session, staff.user_id, payout_id, approve=verdict == "approve")
    return _flash_response(request, back, {"notice": f"payout_{verdict}"})


@router.get("/providers")
async def providers(request: Request, staff: HealthReader, session: SessionDep) -> Response:
    """Per operator over the last hour: success rate, time to a result (p50/p95), callbacks
    received against expected, the breaker, the operator's float."""
    state = get_state(request)
    rows = await console.provider_health(
        session,
        state.providers,
        state.redis,
        queue_prefix=state.settings.worker.queue_prefix,
        now=utc_now(),
    )
    return _page(request, "console/providers.html", staff, rows=rows)


@router.get("/ledger")
async def ledger_health(request: Request, staff: Verifier) -> Response:
    """The last `ledger verify` result and when it ran."""
    last = await console.last_ledger_verify(get_state(request).redis)
    return _page(request, "console/ledger.html", staff, last=last)


@router.post("/ledger/verify")
async def ledger_verify(request: Request, staff: Verifier) -> Response:
    """Run `ledger verify` now."""
    back = f"{PREFIX}/ledger"
    await _form(request, staff, back)
    state = get_state(request)
    await console.run_ledger_verify(state.db, state.redis, state.settings, staff_email=staff.email)
    return _flash_response(request, back, {"notice": "ledger_verified"})


@router.get("/audit")
async def audit_log(request: Request, staff: AuditReader, session: SessionDep) -> Response:
    """Every merchant's and every staff member's audit log (docs/audit.md), newest first: the
    dashboard's filters plus a merchant id, keyset pages, on the platform role's session."""
    filters, shown = audit_filters(request)
    merchant = (request.query_params.get("merchant") or "").strip()[:40] or None
    if merchant is not None:
        shown["merchant"] = merchant
        filters = dataclasses.replace(filters, merchant_id=merchant)
    after = request.query_params.get("after")
    after = after if after and after.startswith("aud_") and len(after) <= 40 else None
    try:
        rows, has_more = await audit_service.list(
            session, ListParams(AUDIT_PAGE_SIZE, starting_after=after), filters
        )
    except BadRequest:  # an unknown cursor: the first page
        after = None
        rows, has_more = await audit_service.list(session, ListParams(AUDIT_PAGE_SIZE), filters)
    return _page(
        request,
        "console/audit.html",
        staff,
        rows=rows,
        shown=shown,
        after=after,
        next_after=rows[-1].id if has_more and rows else None,
    )
