"""The dashboard's money pages (docs/dashboard.md, "Payouts, balance, customers, reports"):
`/dashboard/payouts` (list, detail, request with a confirmation), `/dashboard/balance` (balance
transactions with the running balance), `/dashboard/customers` (list, search, detail) and
`/dashboard/reports` (streamed CSV exports). Each page declares the API's permission; a payout
is requested through the API's service on the ledger-writing route class."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.responses import Response, StreamingResponse

from mboa.dashboard.exceptions import FormInvalid
from mboa.dashboard.money_repository import ExportReads
from mboa.dashboard.money_service import (
    EXPORT_PERMISSIONS,
    PayoutDraft,
    export_kinds,
    export_range,
    money,
)
from mboa.dashboard.pages import (
    PREFIX,
    DashboardLedgerRoute,
    DashboardRoute,
    _amount,
    _day,
    _flash,
    _flash_response,
    _page,
)
from mboa.dashboard.service import start_of_cameroon_day
from mboa.dashboard.signin import Member, Viewer, checked_form
from mboa.dashboard.submits import claim_form, new_form_key
from mboa.exceptions import Forbidden
from mboa.payouts.states import Status as PayoutStatus
from mboa.routing import SessionDep
from mboa.state import get_state

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)
ledger_router = APIRouter(prefix=PREFIX, route_class=DashboardLedgerRoute, include_in_schema=False)

PayoutsViewer = Annotated[Viewer, Depends(Member("payouts:read"))]
PayoutsWriter = Annotated[Viewer, Depends(Member("payouts:write"))]
BalanceViewer = Annotated[Viewer, Depends(Member("balance:read"))]
CustomersViewer = Annotated[Viewer, Depends(Member("customers:read"))]
AnyMember = Annotated[Viewer, Depends(Member(None))]

EXPORT_DAYS_MAX = 366
PAYOUT_FIELDS = ("amount", "wallet", "phone", "description")


def _cursor(request: Request, prefix: str) -> str | None:
    after = request.query_params.get("after")
    return after if after and after.startswith(prefix) and len(after) <= 40 else None


# -- payouts -------------------------------------------------------------------------------------


@router.get("/payouts")
async def payouts(request: Request, viewer: PayoutsViewer, session: SessionDep) -> Response:
    """Payouts, newest first; a status filter; keyset pages."""
    wanted = request.query_params.get("status")
    status = wanted if wanted in PayoutStatus.__members__ else None
    after = _cursor(request, "po_")
    page = await money.payouts(session, status=status, after=after)
    return _page(
        request,
        "payouts.html",
        viewer.locale,
        viewer=viewer,
        page=page,
        chosen_status=status,
        after=after,
        statuses=list(PayoutStatus.__members__),
    )


@router.get("/payouts/new")
async def payout_form(request: Request, viewer: PayoutsWriter, session: SessionDep) -> Response:
    """Request a payout: to a saved wallet or a new number, an amount, a description."""
    typed = _flash(request)
    return _page(
        request,
        "payout_new.html",
        viewer.locale,
        viewer=viewer,
        wallets=await money.saved_wallets(session),
        typed=typed,
        settings=get_state(request).settings.payouts,
    )


async def _draft(request: Request, viewer: Viewer, session: SessionDep) -> PayoutDraft:
    assert viewer.subject.session_id is not None
    request.state.back = f"{PREFIX}/payouts/new"
    fields = await checked_form(request, viewer.subject.session_id)
    typed = {name: (fields.get(name) or "")[:500] for name in PAYOUT_FIELDS}
    request.state.typed = typed
    amount = _amount(typed["amount"])
    if not amount:
        raise FormInvalid("Enter the payout's amount.", param="amount", code="amount_too_small")
    wallet = typed["wallet"] if typed["wallet"].startswith("po_") else None
    return await money.draft(
        session,
        viewer.subject,
        amount=amount,
        wallet=wallet,
        phone=typed["phone"][:20] or None,
        description=typed["description"].strip() or None,
    )


@router.post("/payouts/confirm")
async def payout_confirm(request: Request, viewer: PayoutsWriter, session: SessionDep) -> Response:
    """The confirmation step: the amount, the wallet and its operator said again."""
    draft = await _draft(request, viewer, session)
    settings = get_state(request).settings.payouts
    review = viewer.livemode and draft.amount > settings.approval_threshold
    return _page(
        request,
        "payout_confirm.html",
        viewer.locale,
        viewer=viewer,
        draft=draft,
        review=review,
        form_key=new_form_key(),
    )


@ledger_router.post("/payouts")
async def payout_create(request: Request, viewer: PayoutsWriter, session: SessionDep) -> Response:
    """Send the payout: `POST /v1/payouts`'s service (balance, limits, staff review). The
    confirmation's key makes a second post of it lead to the first payout (`submits`)."""
    assert viewer.subject.session_id is not None
    request.state.back = f"{PREFIX}/payouts/new"
    fields = await checked_form(request, viewer.subject.session_id)
    request.state.typed = {name: (fields.get(name) or "")[:500] for name in PAYOUT_FIELDS}
    await claim_form(request, viewer, fields, PAYOUT_FIELDS)
    draft = await _draft(request, viewer, session)
    try:
        created = await money.request_payout(
            session, viewer.subject, draft, get_state(request).settings.payouts
        )
    except ValidationError as exc:
        raise FormInvalid("The payout is not valid.", param="amount") from exc
    notice = "payout_awaiting" if created.review_status == "awaiting" else "payout_created"
    return _flash_response(request, f"{PREFIX}/payouts/{created.id}", {"notice": notice})


@router.get("/payouts/{payout_id}")
async def payout(
    request: Request, payout_id: str, viewer: PayoutsViewer, session: SessionDep
) -> Response:
    """A payout and its timeline."""
    detail = await money.payout_detail(session, payout_id)
    return _page(request, "payout.html", viewer.locale, viewer=viewer, detail=detail)


# -- balance -------------------------------------------------------------------------------------


@router.get("/balance")
async def balance(request: Request, viewer: BalanceViewer, session: SessionDep) -> Response:
    """Balance transactions, newest first, with the available balance after each."""
    after = _cursor(request, "txn_")
    page = await money.balance(session, after=after)
    return _page(request, "balance.html", viewer.locale, viewer=viewer, page=page, after=after)


# -- customers -----------------------------------------------------------------------------------


@router.get("/customers")
async def customers(request: Request, viewer: CustomersViewer, session: SessionDep) -> Response:
    """Customers, newest first; search by name, email, phone or id."""
    search = (request.query_params.get("q") or "").strip()[:100]
    after = _cursor(request, "cus_")
    page = await money.customers(session, search=search, after=after)
    return _page(
        request, "customers.html", viewer.locale, viewer=viewer, page=page, q=search, after=after
    )


@router.get("/customers/{customer_id}")
async def customer(
    request: Request, customer_id: str, viewer: CustomersViewer, session: SessionDep
) -> Response:
    """A customer and their payments (the payments list's rows)."""
    if not viewer.can("payment_intents:read"):
        raise Forbidden("Your role cannot read payments.", code="role_not_permitted")
    detail = await money.customer(session, customer_id, after=_cursor(request, "pi_"))
    return _page(request, "customer.html", viewer.locale, viewer=viewer, detail=detail)


# -- reports -------------------------------------------------------------------------------------


def _report(request: Request, viewer: Viewer) -> tuple[str, dt.date, dt.date] | None:
    """The export asked for, or None when the form is not filled in; a role that cannot read
    that kind is refused (403)."""
    query = request.query_params
    kind = query.get("kind") or ""
    if kind not in export_kinds():
        return None
    start, end = _day(query.get("from")), _day(query.get("to"))
    if start is None or end is None:
        raise FormInvalid("Enter both days as yyyy-mm-dd.", param="from")
    if end < start or (end - start).days >= EXPORT_DAYS_MAX:
        raise FormInvalid("The range must run forwards, one year at most.", param="to")
    if not viewer.can(EXPORT_PERMISSIONS[kind]):
        raise Forbidden("Your role cannot read these objects.", code="role_not_permitted")
    return kind, start, end


@router.get("/reports")
async def reports(request: Request, viewer: AnyMember) -> Response:
    """Choose an export and a range of Cameroon days; the page says how many rows it holds
    before the download starts."""
    today = (start_of_cameroon_day() + dt.timedelta(hours=2)).date()
    chosen = _report(request, viewer)
    count = None
    if chosen is not None:
        kind, start, end = chosen
        async with get_state(request).db.tenant_reads(viewer.subject.tenant) as reads:
            count = await money.export_count(ExportReads(reads), kind, *export_range(start, end))
    kinds = [k for k in export_kinds() if viewer.can(EXPORT_PERMISSIONS[k])]
    return _page(
        request,
        "reports.html",
        viewer.locale,
        viewer=viewer,
        kinds=kinds,
        chosen=chosen,
        count=count,
        default_from=(today.replace(day=1)).isoformat(),
        default_to=today.isoformat(),
    )


@router.get("/reports/export")
async def export(request: Request, viewer: AnyMember) -> Response:
    """The CSV, streamed from a server-side cursor in batches (a million rows never sit in
    memory), as a download named after its range."""
    chosen = _report(request, viewer)
    if chosen is None:
        raise FormInvalid("Choose what to export.", param="kind")
    kind, start, end = chosen
    db = get_state(request).db
    tenant = viewer.subject.tenant
    bounds = export_range(start, end)

    async def body() -> AsyncIterator[bytes]:
        async with db.tenant_reads(tenant) as reads:
            async for chunk in money.export_csv(ExportReads(reads), kind, *bounds):
                yield chunk

    filename = f"mboa-{kind}-{start.isoformat()}_{end.isoformat()}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
            "x-accel-buffering": "no",
        },
    )
