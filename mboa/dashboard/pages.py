"""The merchant dashboard's pages under `/dashboard` (docs/dashboard.md): server-rendered HTML on
the API's transaction boundary (`ApiRoute`), authenticated by the session cookie
(`signin.Member`, the role's permissions as the API's), every form CSRF-checked. Actions call
the API's services with the member's `AuthSubject`. A failed action goes back to its page with
its message (a short-lived cookie); a page that cannot be shown is an HTML page with the
error's status (404 for another merchant's ids: row-level security never finds them)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from mboa.audit.repository import AuditFilters
from mboa.audit.service import Action as AuditAction
from mboa.audit.service import audit as audit_service
from mboa.auth.scopes import AUDIT_READ
from mboa.dashboard.exceptions import FormInvalid
from mboa.dashboard.messages import error_message
from mboa.dashboard.rendering import PAGE_CSP, chart, render
from mboa.dashboard.repository import DashboardRepository, PaymentFilters
from mboa.dashboard.service import dashboard, search_filters, start_of_cameroon_day
from mboa.dashboard.signin import (
    LANG_COOKIE,
    MODE_COOKIE,
    SESSION_COOKIE,
    Member,
    PendingSignIn,
    Viewer,
    checked_form,
    choose_locale,
    csrf_token,
    set_cookie,
    set_pending_cookie,
    start_browser_session,
)
from mboa.dashboard.submits import claim_form, new_form_key
from mboa.events.repository import EventReads
from mboa.events.schemas import as_object
from mboa.events.stream import events_after
from mboa.exceptions import BadRequest, MboaError, Unauthorized
from mboa.http_security import client_address
from mboa.idempotency import service as idempotency
from mboa.kit.ids import ulid
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.payments.states import Status
from mboa.postgres import TenantContext
from mboa.receipts.service import receipt as receipt_service
from mboa.routing import ApiRoute, SessionDep
from mboa.state import get_state
from mboa.users.exceptions import InvalidCredentials, TwoFactorCodeRequired
from mboa.users.service import user as user_service
from mboa.web import csrf
from mboa.web.flash import FlashCookie
from mboa.web.formatting import CAMEROON_TIME
from mboa.web.i18n import LOCALES

PREFIX = "/dashboard"
FLASH = FlashCookie("mboa_dash_flash", path=PREFIX)
HEADERS = {"content-security-policy": PAGE_CSP}
STREAM_SECONDS = 300
"""How long one event stream lasts; the browser reconnects (EventSource) for the next."""
PROVIDERS = ("mtn_momo", "orange_money")

__all__ = ["CAMEROON_TIME", "ledger_router", "router"]


class FlashRedirect(RedirectResponse):
    """A post's answer: back to a page, with what that page says (the flash cookie). What a
    form's key keeps (`DashboardRoute.store`), to lead a double submit to the same page."""

    def __init__(self, target: str, flash: dict[str, Any]) -> None:
        super().__init__(target, status_code=303)
        self.flash = flash


def _flash_response(request: Request, target: str, flash: dict[str, Any]) -> Response:
    response = FlashRedirect(target, flash)
    FLASH.set(request, response, flash)
    return response


class DashboardRoute(ApiRoute):
    """Errors are pages: a post returns to its page with the message; a page nobody may see is
    the sign-in page (not signed in) or an HTML page with the error's status."""

    rejects_unknown_query_parameters = False
    # A browser sends no Idempotency-Key header: a form claims the key its page rendered
    # (`mboa.dashboard.submits`).
    claims_idempotency_header = False

    def store(
        self, request: Request, response: Response, secrets: Any
    ) -> idempotency.StoredResponse:
        """Where the post led and what that page said; never a page's body. A post that
        answers with a page (a new secret, shown once) names in `request.state.replay_to` the
        page and flash a replay leads to instead: a replay never shows a secret again."""
        headers: dict[str, Any] = {"content-type": "text/html; charset=utf-8"}
        if "location" in response.headers:
            headers["location"] = response.headers["location"]
        if isinstance(response, FlashRedirect):
            headers["flash"] = response.flash
        replay_to = getattr(request.state, "replay_to", None)
        if replay_to is not None and 200 <= response.status_code < 300:
            headers["location"], headers["flash"] = replay_to
        return idempotency.StoredResponse(response.status_code, b"", headers)

    def replay(
        self, request: Request, stored: idempotency.StoredResponse, secrets: Any
    ) -> Response:
        """A double submit: to the page the first post led to, saying it was not sent twice."""
        location = stored.headers.get("location")
        flash = stored.headers.get("flash")
        flash = dict(flash) if isinstance(flash, dict) else {}
        if not isinstance(location, str) or not location.startswith(PREFIX):
            location = getattr(request.state, "back", None) or PREFIX
        if "code" not in flash:
            flash["replayed"] = True
        response = _flash_response(request, location, flash)
        response.headers[idempotency.REPLAYED_HEADER] = "true"
        return response

    def error_response(self, request: Request, exc: MboaError) -> Response:
        if request.method == "POST":
            back = getattr(request.state, "back", None) or request.url.path
            flash = {"code": exc.code, **getattr(request.state, "typed", {})}
            return _flash_response(request, back, flash)
        if isinstance(exc, Unauthorized):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(
                f"{PREFIX}/login?next={target}" if target != PREFIX else f"{PREFIX}/login",
                status_code=303,
            )
        locale = choose_locale(request, None)
        viewer = getattr(request.state, "viewer", None)
        html = render(
            "message.html",
            viewer.locale if viewer else locale,
            viewer=viewer,
            title=error_message(exc.code, viewer.locale if viewer else locale),
            status=exc.status_code,
            path=request.url.path,
        )
        return HTMLResponse(html, status_code=exc.status_code, headers=HEADERS)


class DashboardLedgerRoute(DashboardRoute):
    """An action that writes the ledger (a refund's reservation): the platform role's session,
    as the API's `LedgerWriteRoute`; the service names the member's tenant on every row."""

    def sessions(self, request: Request) -> async_sessionmaker[AsyncSession]:
        return get_state(request).db.platform_sessions


router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)
ledger_router = APIRouter(prefix=PREFIX, route_class=DashboardLedgerRoute, include_in_schema=False)


HomeViewer = Annotated[Viewer, Depends(Member("balance:read"))]
PaymentsViewer = Annotated[Viewer, Depends(Member("payment_intents:read"))]
RefundsWriter = Annotated[Viewer, Depends(Member("refunds:write"))]
AnyMember = Annotated[Viewer, Depends(Member(None))]
AuditViewer = Annotated[Viewer, Depends(Member(AUDIT_READ))]


def _flash(request: Request) -> dict[str, Any]:
    return FLASH.read(request)


def _page(
    request: Request, template: str, locale: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    flash = _flash(request)
    html = render(
        template,
        locale,
        flash=flash,
        error=error_message(flash.get("code"), locale) if flash.get("code") else None,
        notice=flash.get("notice"),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    fresh = getattr(request.state, "new_csrf_cookie", None)
    if fresh is not None:
        set_cookie(request, response, csrf.COOKIE, fresh)
    FLASH.clear(request, response)
    return response


def _safe_next(value: str | None) -> str:
    """Only our own dashboard (or staff console) pages: never an open redirect."""
    if (
        value
        and value.startswith((PREFIX, "/console"))
        and not value.startswith("//")
        and "\\" not in value
    ):
        return value
    return PREFIX


# -- signing in and out ------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The sign-in form."""
    locale = choose_locale(request, None)
    asked = request.query_params.get("lang")
    if asked in LOCALES:
        locale = asked
    response = _page(
        request,
        "login.html",
        locale,
        viewer=None,
        csrf=csrf_token(request, "login"),
        next=_safe_next(request.query_params.get("next")),
        email=_flash(request).get("email", ""),
    )
    if asked in LOCALES:
        set_cookie(request, response, LANG_COOKIE, asked, max_age=365 * 86400)
    return response


@router.post("/login")
async def login(request: Request, session: SessionDep) -> Response:
    """Sign in: a login session as `POST /v1/auth/login` starts one, with the same throttles."""
    request.state.back = f"{PREFIX}/login"
    fields = await checked_form(request, "login")
    email = (fields.get("email") or "")[:320]
    request.state.typed = {"email": email}
    state = get_state(request)
    limiter = state.rate_limiter
    await limiter.hit_anonymous(client_address(request), "login")
    await limiter.check_login_account(email)
    try:
        issued = await user_service.login(
            session,
            email=email,
            password=fields.get("password") or "",
            settings=state.settings.auth,
            jwt_secret=state.jwt_secret,
        )
    except InvalidCredentials as exc:
        await limiter.login_failed(email)
        await audit_service.record_failed_login(state.db, email=email, reason=exc.message)
        raise
    except TwoFactorCodeRequired as required:
        # The password is right; the session starts only with the code (the second step).
        target = f"{PREFIX}/login/two-factor?" + urlencode({"next": _safe_next(fields.get("next"))})
        response = RedirectResponse(target, status_code=303)
        pending = PendingSignIn(required.user_id, email.lower(), required.fingerprint)
        set_pending_cookie(request, response, pending)
        return response
    await limiter.login_succeeded(email)
    response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
    start_browser_session(request, response, issued)
    return response


@router.post("/logout")
async def logout(request: Request, viewer: AnyMember, session: SessionDep) -> Response:
    """Sign out: the login session ends now (the cookie no longer opens anything)."""
    assert viewer.subject.session_id is not None
    await checked_form(request, viewer.subject.session_id)
    await user_service.logout(session, session_id=viewer.subject.session_id)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/mode")
async def switch_mode(request: Request, viewer: AnyMember) -> Response:
    """The test/live switch (remembered by this browser)."""
    assert viewer.subject.session_id is not None
    fields = await checked_form(request, viewer.subject.session_id)
    mode = "live" if fields.get("mode") == "live" else "test"
    response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
    set_cookie(request, response, MODE_COOKIE, mode, max_age=365 * 86400)
    return response


@router.post("/language")
async def switch_language(request: Request, viewer: AnyMember, session: SessionDep) -> Response:
    """The member's language, remembered on their user (every device) and in this browser."""
    assert viewer.subject.session_id is not None
    assert viewer.subject.user_id is not None
    fields = await checked_form(request, viewer.subject.session_id)
    locale = fields.get("locale") if fields.get("locale") in LOCALES else viewer.locale
    assert locale is not None
    await user_service.set_locale(session, viewer.subject.user_id, locale)
    response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
    set_cookie(request, response, LANG_COOKIE, locale, max_age=365 * 86400)
    return response


# -- home ----------------------------------------------------------------------------------------


@router.get("")
async def home(request: Request, viewer: HomeViewer, session: SessionDep) -> Response:
    """Balances, volumes, success rate per operator and the daily volume."""
    view = await dashboard.home(session, viewer.subject, today=start_of_cameroon_day())
    return _page(
        request, "home.html", viewer.locale, viewer=viewer, home=view, chart=chart(view.daily)
    )


@router.get("/balance/summary")
async def balance_fragment(request: Request, viewer: HomeViewer, session: SessionDep) -> Response:
    """The balances alone (the live updates replace them in place)."""
    view = await dashboard.home(session, viewer.subject, today=start_of_cameroon_day())
    return _page(request, "_balance.html", viewer.locale, viewer=viewer, home=view)


# -- payments ------------------------------------------------------------------------------------


def _day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _amount(value: str | None) -> int | None:
    digits = "".join(c for c in value or "" if c.isdigit())[:15]
    return int(digits) if digits else None


def _filters(request: Request) -> tuple[PaymentFilters, dict[str, str]]:
    """The list's filters from the query string; values that mean nothing are dropped."""
    query = request.query_params
    shown: dict[str, str] = {}
    status = query.get("status") if query.get("status") in Status.__members__ else None
    provider = query.get("operator") if query.get("operator") in PROVIDERS else None
    start, end = _day(query.get("from")), _day(query.get("to"))
    low, high = _amount(query.get("min")), _amount(query.get("max"))
    search = (query.get("q") or "").strip()[:100]
    for name, value in (
        ("status", status),
        ("operator", provider),
        ("from", start.isoformat() if start else None),
        ("to", end.isoformat() if end else None),
        ("min", str(low) if low is not None else None),
        ("max", str(high) if high is not None else None),
        ("q", search or None),
    ):
        if value is not None:
            shown[name] = value
    filters = PaymentFilters(
        status=status,
        provider=provider,
        created_from=_cameroon_midnight(start) if start else None,
        created_before=_cameroon_midnight(end + dt.timedelta(days=1)) if end else None,
        amount_min=low,
        amount_max=high,
        **search_filters(search),
    )
    return filters, shown


def _cameroon_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - dt.timedelta(hours=1)


@router.get("/payments")
async def payments(request: Request, viewer: PaymentsViewer, session: SessionDep) -> Response:
    """Payments, newest first: filters, search, keyset pages."""
    filters, shown = _filters(request)
    after = request.query_params.get("after")
    after = after if after and after.startswith("pi_") and len(after) <= 40 else None
    if DashboardRepository.is_search(filters):
        async with get_state(request).db.platform_sessions() as search:
            page = await dashboard.payments(
                session, filters, after=after, search=search, tenant=viewer.subject.tenant
            )
    else:
        page = await dashboard.payments(session, filters, after=after)
    return _page(
        request,
        "payments.html",
        viewer.locale,
        viewer=viewer,
        page=page,
        shown=shown,
        after=after,
        statuses=list(Status.__members__),
        providers=PROVIDERS,
    )


# -- audit log (issue 17 item 4, docs/audit.md) ----------------------------------------------

AUDIT_PAGE_SIZE = 25
AUDIT_ACTIONS = [str(action) for action in AuditAction]
AUDIT_GROUPS = sorted({action.split(".")[0] for action in AUDIT_ACTIONS})


def audit_filters(request: Request) -> tuple[AuditFilters, dict[str, str]]:
    """The audit page's filters from the query string; values that mean nothing are dropped."""
    query = request.query_params
    action = query.get("action") or None
    if action not in AUDIT_ACTIONS and action not in {f"{g}.*" for g in AUDIT_GROUPS}:
        action = None
    actor = (query.get("actor") or "").strip()[:320] or None
    target = (query.get("target") or "").strip()[:64] or None
    start, end = _day(query.get("from")), _day(query.get("to"))
    shown = {
        name: value
        for name, value in (
            ("action", action),
            ("actor", actor),
            ("target", target),
            ("from", start.isoformat() if start else None),
            ("to", end.isoformat() if end else None),
        )
        if value is not None
    }
    created = CreatedRange(
        _cameroon_midnight(start) if start else None,
        _cameroon_midnight(end + dt.timedelta(days=1)) if end else None,
    )
    return AuditFilters(action=action, actor=actor, target=target, created=created), shown


@router.get("/audit")
async def audit_log(request: Request, viewer: AuditViewer, session: SessionDep) -> Response:
    """The merchant's audit log (both modes), newest first: filters and keyset pages on the
    same service as `GET /v1/merchants/{id}/audit_logs`."""
    filters, shown = audit_filters(request)
    after = request.query_params.get("after")
    after = after if after and after.startswith("aud_") and len(after) <= 40 else None
    try:
        rows, has_more = await audit_service.list(
            session, ListParams(AUDIT_PAGE_SIZE, starting_after=after), filters
        )
    except BadRequest:  # a cursor this merchant cannot see: the first page
        after = None
        rows, has_more = await audit_service.list(session, ListParams(AUDIT_PAGE_SIZE), filters)
    return _page(
        request,
        "audit.html",
        viewer.locale,
        viewer=viewer,
        rows=rows,
        next_after=rows[-1].id if has_more and rows else None,
        shown=shown,
        after=after,
        actions=AUDIT_ACTIONS,
        groups=AUDIT_GROUPS,
    )


@router.get("/payments/{intent_id}/row")
async def payment_row(
    request: Request, intent_id: str, viewer: PaymentsViewer, session: SessionDep
) -> Response:
    """One row of the list (the live updates insert or replace it)."""
    intent = await dashboard.payment(session, intent_id)
    return _page(request, "_row.html", viewer.locale, viewer=viewer, intent=intent)


@router.get("/payments/{intent_id}")
async def payment(
    request: Request, intent_id: str, viewer: PaymentsViewer, session: SessionDep
) -> Response:
    """A payment and its timeline."""
    detail = await dashboard.payment_detail(session, intent_id)
    return _page(request, "payment.html", viewer.locale, viewer=viewer, detail=detail)


@router.get("/payments/{intent_id}/receipt")
async def payment_receipt(
    request: Request, intent_id: str, viewer: PaymentsViewer, session: SessionDep
) -> Response:
    """The payment's PDF receipt (`GET /v1/payment_intents/{id}/receipt`'s service), streamed
    after the member's permission and the payment's tenant are checked; `?locale=fr|en`, else
    the dashboard's language."""
    asked = request.query_params.get("locale")
    locale = asked if asked in LOCALES else viewer.locale
    receipt, data = await receipt_service.pdf(
        session, get_state(request).storage, intent_id=intent_id, locale=locale
    )
    return Response(
        data,
        media_type="application/pdf",
        headers={"content-disposition": f'inline; filename="{receipt.filename}"'},
    )


@router.get("/payments/{intent_id}/refund")
async def refund_confirm(
    request: Request, intent_id: str, viewer: RefundsWriter, session: SessionDep
) -> Response:
    """Confirm a refund: the amount and the wallet it goes to, said again."""
    detail = await dashboard.payment_detail(session, intent_id)
    amount = _amount(request.query_params.get("amount")) or detail.refundable
    return _page(
        request,
        "confirm_refund.html",
        viewer.locale,
        viewer=viewer,
        detail=detail,
        amount=amount,
        form_key=new_form_key(),
    )


@ledger_router.post("/payments/{intent_id}/refund")
async def refund(
    request: Request, intent_id: str, viewer: RefundsWriter, session: SessionDep
) -> Response:
    """Refund (all or part): `POST /v1/refunds`'s service, checks and ledger."""
    assert viewer.subject.session_id is not None
    request.state.back = f"{PREFIX}/payments/{intent_id}/refund"
    fields = await checked_form(request, viewer.subject.session_id)
    await claim_form(request, viewer, fields, ("amount",))
    amount = _amount(fields.get("amount"))
    try:
        created = await dashboard.refund(session, viewer.subject, intent_id, amount=amount)
    except ValidationError as exc:
        raise FormInvalid("The refund's amount is not valid.", param="amount") from exc
    response = _flash_response(
        request, f"{PREFIX}/payments/{intent_id}", {"notice": "refund_created", "id": created.id}
    )
    return response


# -- real time -----------------------------------------------------------------------------------


@router.get("/events")
async def stream(request: Request, viewer: PaymentsViewer) -> Response:
    """Server-sent events: the member's events (their merchant, the current mode) as they
    commit. Test mode reads exactly as `GET /v1/events/stream` (its order and completeness);
    live mode follows event ids (the stream's index covers test mode only)."""
    state = get_state(request)
    tenant = viewer.subject.tenant
    settings = state.settings.events

    # The position is taken before the response starts: once the browser sees the stream open,
    # every event committed from then on is in it.
    position = (0, "")
    if not tenant.livemode:
        async with state.db.tenant_reads(tenant) as reads:
            position = (await EventReads(reads).horizon(), "")

    async def body() -> AsyncIterator[bytes]:
        yield b"retry: 3000\n\n"
        deadline = time.monotonic() + STREAM_SECONDS
        stop = anyio.Event()
        if not tenant.livemode:
            with anyio.move_on_after(STREAM_SECONDS):
                async for sse in events_after(
                    state.db,
                    tenant,
                    position,
                    types=None,
                    poll_seconds=settings.stream_poll_seconds,
                    batch=settings.stream_batch,
                    stop=stop,
                ):
                    yield sse.encode()
            return
        last = "evt_" + ulid()
        while time.monotonic() < deadline:
            rows = await _live_after(state.db, tenant, last)
            for row in rows:
                body = orjson.dumps(as_object(row).model_dump(mode="json"))
                yield b"id: " + row["id"].encode() + b"\ndata: " + body + b"\n\n"
                last = str(row["id"])
            if not rows:
                yield b": keep-alive\n\n"
                await asyncio.sleep(settings.stream_poll_seconds)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _live_after(db: Any, tenant: TenantContext, last: str) -> list[dict[str, Any]]:
    async with db.tenant_reads(tenant) as reads:
        rows: list[dict[str, Any]] = await EventReads(reads).after_id(
            tenant.merchant_id, True, last, 100
        )
        return rows
