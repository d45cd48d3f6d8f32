"""The public pages: `/pay/cs_…` (a checkout session's payment page) and `/l/plink_…` (a
payment link). HTML, server-rendered, no API key. A page view is one statement on the read pool
(a definer function returns the row its URL names, the secret checked), no ORM session; a post
finds its tenant from the URL (`checkout_page.tenant`) and its transaction is then scoped to it
as any API request's is. Each action is a plain form post answered by a redirect to the page (works without
JavaScript); errors come back to the page once, by a short-lived cookie (docs/checkout.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from mboa.checkout import csrf
from mboa.checkout.exceptions import CsrfTokenInvalid
from mboa.checkout.i18n import LOCALES, negotiate, translations
from mboa.checkout.messages import BACK_TO_PAGE, error_message, page_title
from mboa.checkout.rendering import PAGE_CSP, render, render_page
from mboa.checkout.service import PageView, checkout_page
from mboa.exceptions import MboaError
from mboa.http_security import client_address
from mboa.postgres import TenantContext, scope_session
from mboa.providers.types import ProviderName
from mboa.receipts.service import receipt as receipt_service
from mboa.routing import ApiRoute, SessionDep
from mboa.state import AppState, get_state
from mboa.storage.service import storage as storage_service
from mboa.web.flash import FlashCookie

LANG_COOKIE = "mboa_lang"
FLASH = FlashCookie("mboa_flash")
RETURN_COOKIE = "mboa_checkout"
"""The page a payer left for Orange WebPay: WebPay sends them back to `/checkout/return`."""
EVENTS_SECONDS = 600
"""How long one server-sent-events stream follows a payment (the browser then polls)."""
HEADERS = {"content-security-policy": PAGE_CSP}


def _page_target(request: Request) -> str:
    if "token" in request.path_params:
        return f"/pay/{request.path_params['token']}"
    if "link_id" in request.path_params:
        return f"/l/{request.path_params['link_id']}"
    return "/"


class PageRoute(ApiRoute):
    """The payment pages' routes: the request's transaction as in `ApiRoute`, but errors are
    pages. A post goes back to its page (the error shown there once); a page that cannot be
    shown is an HTML page with the error's status. Query strings are not the API's: a shared
    link gathers tracking parameters, which must not break it."""

    rejects_unknown_query_parameters = False

    def error_response(self, request: Request, exc: MboaError) -> Response:
        if request.method == "POST" and exc.status_code == 429:
            # Not back to the page: a redirect would hide the 429 (and its Retry-After) from
            # whatever is hammering the form. The payer reads why and how long, and a link back.
            return self._too_many(request, exc)
        if request.method == "POST":
            response: Response = RedirectResponse(_page_target(request), status_code=303)
            flash = {"code": exc.code, "param": exc.param, **getattr(request.state, "typed", {})}
            FLASH.set(request, response, flash)
            return response
        locale = choose_locale(request, None)
        html = render(
            "message.html",
            locale,
            title=page_title(exc, locale),
            text=None,
            href=None,
            test_mode=False,
        )
        return HTMLResponse(html, status_code=exc.status_code, headers=HEADERS)

    def _too_many(self, request: Request, exc: MboaError) -> Response:
        # The language the page was shown in (its forms carry it), else the browser's.
        locale = getattr(request.state, "page_locale", None) or choose_locale(request, None)
        html = render(
            "message.html",
            locale,
            title=error_message(exc.code, locale, exc.param),
            text=None,
            href=_page_target(request),
            link_text=translations(locale).gettext(BACK_TO_PAGE),
            test_mode=False,
        )
        return HTMLResponse(html, status_code=429, headers={**HEADERS, **exc.headers})


router = APIRouter(route_class=PageRoute, include_in_schema=False)


def choose_locale(request: Request, session_locale: str | None) -> str:
    """The page's switch (`?lang=`, then remembered), the merchant's choice, the browser's."""
    asked = request.query_params.get("lang")
    if asked in LOCALES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in LOCALES:
        return remembered
    if session_locale in LOCALES:
        return session_locale
    return negotiate(request.headers.get("accept-language"))


def _flash(request: Request) -> dict[str, str]:
    value = FLASH.read(request)
    # Ours, but a browser can send anything: short strings only (each is part of the key of a
    # rendered page, `render_page`).
    return {k: v for k, v in value.items() if isinstance(v, str) and len(v) <= 100}


def _csrf_cookie(request: Request) -> tuple[str, bool]:
    existing = request.cookies.get(csrf.COOKIE)
    if existing and len(existing) <= 64:
        return existing, False
    return csrf.new_cookie_value(), True


def _html(request: Request, html: str, cookie: tuple[str, bool], locale: str) -> HTMLResponse:
    response = HTMLResponse(html, headers=HEADERS)
    secure = request.url.scheme == "https"
    value, fresh = cookie
    if fresh:
        response.set_cookie(csrf.COOKIE, value, httponly=True, samesite="lax", secure=secure)
    if request.query_params.get("lang") in LOCALES:
        response.set_cookie(
            LANG_COOKIE, locale, max_age=365 * 86400, httponly=True, samesite="lax", secure=secure
        )
    FLASH.clear(request, response)
    return response


async def _check_csrf(request: Request, scope: str) -> dict[str, str]:
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if fields.get("lang") in LOCALES:
        request.state.page_locale = fields["lang"]
    secret = get_state(request).jwt_secret
    if not csrf.valid(secret, request.cookies.get(csrf.COOKIE), scope, fields.get("csrf")):
        raise CsrfTokenInvalid("This form was not sent from its page.")
    return fields


# -- the payment page --------------------------------------------------------------------------


async def page_session(token: str, session: SessionDep) -> str:
    """The checkout session a page URL names (404 otherwise); scopes the request to its tenant."""
    session_id, tenant = await checkout_page.tenant(session, token)
    await scope_session(session, tenant)
    return session_id


PageSession = Annotated[str, Depends(page_session)]


def _settings(request: Request) -> Any:
    return get_state(request).settings


@router.get("/pay/{token}")
async def pay_page(request: Request, token: str) -> Response:
    """The payment page, in whatever state the payment is: one statement on the read pool (the
    definer function checks the URL's secret), no ORM session."""
    state = get_state(request)
    async with state.db.public_reads() as reads:
        view = await checkout_page.view(reads, token)
    locale = choose_locale(request, view.locale)
    flash = _flash(request)
    cookie = _csrf_cookie(request)
    changing = request.query_params.get("change") == "1" and view.state == "waiting"
    message = error_message(flash.get("code"), locale, flash.get("param")) if flash else None
    if message is None and view.error_code:
        message = error_message(view.error_code, locale)
    field_error = message if flash.get("param") == "phone" else None
    html = render_page(
        "pay.html",
        locale,
        view=view if not changing else _as_form(view),
        page=f"/pay/{token}",
        csrf=csrf.token(state.jwt_secret, cookie[0], view.session_id),
        error=message,
        field_error=field_error,
        phone=flash.get("phone") or _national(view.phone),
        provider=flash.get("provider"),
        changing=changing,
        resent=request.query_params.get("resent") == "1",
        returned=request.query_params.get("returned") == "1",
        test_mode=not view.livemode,
        logo=_logo(state, view.logo_key),
    )
    return _html(request, html, cookie, locale)


@router.get("/pay/{token}/receipt")
async def pay_receipt(
    request: Request, token: str, session_id: PageSession, session: SessionDep
) -> Response:
    """The payer's receipt (PDF): the page's URL is their permission (no API key); they are
    sent to a short-lived signed URL of the stored receipt (docs/payments.md, "Receipts")."""
    state = get_state(request)
    locale = choose_locale(request, None)
    intent_id = await checkout_page.intent_of(session, session_id)
    url = await receipt_service.signed_url(
        session, state.storage, state.settings.storage, intent_id=intent_id, locale=locale
    )
    return RedirectResponse(url, status_code=303)


def _logo(state: AppState, key: str | None) -> str | None:
    """The merchant's logo by a same-origin signed path (our `/files/…` route: the page's CSP
    and weight budget allow no third party), stable for an hour so the page stays cached."""
    return (
        storage_service.page_image_path(state.url_signer, state.settings.storage, key)
        if key
        else None
    )


def _as_form(view: PageView) -> PageView:
    return dataclasses.replace(view, state="form", error_code=None)


def _national(e164: str | None) -> str | None:
    return e164.removeprefix("+237") if e164 else None


@router.post("/pay/{token}")
async def pay_confirm(
    request: Request, token: str, session_id: PageSession, session: SessionDep
) -> Response:
    """Prompt the payer's phone (or, Orange WebPay, send them to Orange's page)."""
    fields = await _check_csrf(request, session_id)
    webpay = fields.get("method") == "webpay"
    phone = None if webpay else (fields.get("phone") or "").strip()[:20]
    provider = ProviderName.orange_money if webpay else _provider(fields.get("provider"))
    request.state.typed = {"phone": phone or "", "provider": provider.value if provider else None}
    await get_state(request).rate_limiter.hit_checkout(
        client_address(request), "confirm", _digits(phone)
    )
    state = get_state(request)
    await checkout_page.confirm(
        session, session_id, state.settings.payments, phone=phone, provider=provider
    )
    response = RedirectResponse(f"/pay/{token}", status_code=303)
    if webpay:
        response.set_cookie(
            RETURN_COOKIE,
            f"/pay/{token}",
            max_age=3600,
            path="/checkout",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


def _digits(phone: str | None) -> str | None:
    """A number as the rate limiter keys it (its last 9 digits, hashed there): `+237 6 70…`,
    `670…` and an attempt's E.164 `+237670…` are one phone."""
    return "".join(c for c in phone or "" if c.isdigit()) or None


def _provider(value: str | None) -> ProviderName | None:
    try:
        return ProviderName(value) if value else None
    except ValueError:
        return None


@router.post("/pay/{token}/resend")
async def pay_resend(
    request: Request, token: str, session_id: PageSession, session: SessionDep
) -> Response:
    """Send the waiting request to the payer's phone again (Orange Money)."""
    await _check_csrf(request, session_id)
    state = get_state(request)
    attempt = await checkout_page.latest_attempt(session, session_id)
    # Per phone as confirm is (the same bucket): a stranger's phone is not flooded with
    # prompts, however many pages or addresses ask.
    await state.rate_limiter.hit_checkout(
        client_address(request), "resend", _digits(attempt.phone if attempt else None)
    )
    await checkout_page.resend(state.providers, attempt)
    return RedirectResponse(f"/pay/{token}?resent=1", status_code=303)


@router.get("/pay/{token}/status")
async def pay_status(request: Request, token: str) -> Response:
    """The page's state as JSON (the waiting screen polls it when server-sent events fail)."""
    async with get_state(request).db.public_reads() as reads:
        status = await checkout_page.status(reads, token)
    return Response(orjson.dumps(status), media_type="application/json")


@router.get("/pay/{token}/events")
async def pay_events(request: Request, token: str) -> Response:
    """Server-sent events: the page's state each time it changes, until it settles."""
    db = get_state(request).db
    async with db.public_reads() as reads:
        first = await checkout_page.status(reads, token)  # a wrong URL is a 404, not a stream

    async def stream() -> AsyncIterator[bytes]:
        status: dict[str, Any] | None = first
        last = None
        deadline = time.monotonic() + EVENTS_SECONDS
        quiet = 0
        yield b"retry: 3000\n\n"
        while time.monotonic() < deadline:
            if status is None:
                async with db.public_reads() as reads:
                    status = await checkout_page.status(reads, token)
            if status != last:
                yield b"data: " + orjson.dumps(status) + b"\n\n"
                last, quiet = status, 0
                if status["state"] not in ("waiting", "redirect"):
                    return
            else:
                quiet += 1
                if quiet % 15 == 0:
                    yield b": keep-alive\n\n"
            status = None
            await asyncio.sleep(1)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


@router.get("/checkout/return")
@router.get("/checkout/cancel")
async def webpay_return(request: Request) -> Response:
    """Where Orange WebPay sends the payer back: to the payment page they left (a cookie of
    theirs remembers it), which shows the outcome."""
    page = request.cookies.get(RETURN_COOKIE, "")
    if page.startswith("/pay/cs_") and "/" not in page[5:] and len(page) < 120:
        # `returned`: the page must not send them straight back to Orange's page.
        return RedirectResponse(page + "?returned=1", status_code=303)
    locale = choose_locale(request, None)
    html = render(
        "message.html",
        locale,
        title=page_title(None, locale),
        text=None,
        href=None,
        test_mode=False,
    )
    return HTMLResponse(html, headers=HEADERS)


# -- payment links ---------------------------------------------------------------------------


async def link_tenant(request: Request, link_id: str, session: SessionDep) -> TenantContext:
    tenant = await checkout_page.link_tenant(session, link_id)
    await scope_session(session, tenant)
    return tenant


LinkTenant = Annotated[TenantContext, Depends(link_tenant)]


@router.get("/l/{link_id}")
async def link_page(request: Request, link_id: str) -> Response:
    """A payment link: the amount (or a field for it) and what the merchant asks, then on to
    a checkout session. One statement on the read pool, no ORM session."""
    state = get_state(request)
    async with state.db.public_reads() as reads:
        link = await checkout_page.link_view(reads, link_id)
    locale = choose_locale(request, None)
    flash = _flash(request)
    cookie = _csrf_cookie(request)
    html = render_page(
        "link.html",
        locale,
        link=link,
        merchant_name=link.merchant_name,
        csrf=csrf.token(state.jwt_secret, cookie[0], link.id),
        error=error_message(flash.get("code"), locale, flash.get("param")) if flash else None,
        amount=flash.get("amount"),
        test_mode=not link.livemode,
        logo=_logo(state, link.logo_key),
    )
    return _html(request, html, cookie, locale)


@router.post("/l/{link_id}")
async def link_open(
    request: Request, link_id: str, tenant: LinkTenant, session: SessionDep
) -> Response:
    """Open a checkout session for this visit and go to its payment page."""
    fields = await _check_csrf(request, link_id)
    request.state.typed = {"amount": (fields.get("amount") or "")[:20]}
    state = get_state(request)
    await state.rate_limiter.hit_checkout(client_address(request), "link", None)
    path = await checkout_page.open_from_link(
        session,
        tenant,
        link_id,
        state.settings.payments,
        amount=fields.get("amount"),
        name=fields.get("name"),
        note=fields.get("note"),
        locale=remembered
        if (remembered := request.cookies.get(LANG_COOKIE)) in LOCALES
        else "auto",
    )
    return RedirectResponse(path, status_code=303)
