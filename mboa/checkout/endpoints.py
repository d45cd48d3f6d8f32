"""The API of checkout sessions and payment links (docs/checkout.md)."""

from __future__ import annotations

import io
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, Depends, Query, Request, Response

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.checkout.schemas import (
    CheckoutSession,
    CheckoutSessionCreate,
    PaymentLink,
    PaymentLinkCreate,
    PaymentLinkUpdate,
)
from mboa.checkout.service import checkout_session as checkout_session_service
from mboa.checkout.service import payment_link as payment_link_service
from mboa.config import Settings
from mboa.kit.openapi import error_responses
from mboa.kit.pagination import CreatedRange, ListParams, created_range, list_params
from mboa.kit.schemas import ListObject
from mboa.payments.schemas import PaymentIntent
from mboa.routing import ApiRoute, SessionDep
from mboa.state import get_state

sessions = APIRouter(prefix="/checkout/sessions", tags=["Checkout sessions"], route_class=ApiRoute)
links = APIRouter(prefix="/payment_links", tags=["Payment links"], route_class=ApiRoute)

SessionsRead = Annotated[AuthSubject, Depends(ApiKeyAuth("checkout_sessions:read"))]
SessionsWrite = Annotated[AuthSubject, Depends(ApiKeyAuth("checkout_sessions:write"))]
LinksRead = Annotated[AuthSubject, Depends(ApiKeyAuth("payment_links:read"))]
LinksWrite = Annotated[AuthSubject, Depends(ApiKeyAuth("payment_links:write"))]


async def _settings(request: Request) -> Settings:
    return get_state(request).settings


SettingsDep = Annotated[Settings, Depends(_settings)]


@sessions.post(
    "", response_model=CheckoutSession, responses=error_responses(400, 401, 403, 404, 429)
)
async def create_checkout_session(
    auth: SessionsWrite, session: SessionDep, settings: SettingsDep, body: CheckoutSessionCreate
) -> CheckoutSession:
    """Open a hosted payment page for an amount: send the payer to its `url`. Its payment
    intent is created with it; the session completes when the intent succeeds."""
    return await checkout_session_service.create(
        session, auth, body, settings.payments, settings.base_url
    )


@sessions.get(
    "", response_model=ListObject[CheckoutSession], responses=error_responses(400, 401, 403, 429)
)
async def list_checkout_sessions(
    request: Request,
    auth: SessionsRead,
    session: SessionDep,
    settings: SettingsDep,
    params: Annotated[ListParams, Depends(list_params)],
    created: Annotated[CreatedRange, Depends(created_range)],
    status: Annotated[Literal["open", "complete", "expired"] | None, Query()] = None,
    payment_intent: Annotated[str | None, Query(max_length=40)] = None,
    payment_link: Annotated[str | None, Query(max_length=40)] = None,
) -> ListObject[CheckoutSession]:
    """List checkout sessions, newest first."""
    rows, has_more = await checkout_session_service.list(
        session,
        params,
        settings.base_url,
        status=status,
        payment_intent=payment_intent,
        payment_link=payment_link,
        created=created,
    )
    return ListObject(url=request.url.path, has_more=has_more, data=rows)


@sessions.get(
    "/{session_id}", response_model=CheckoutSession, responses=error_responses(401, 403, 404, 429)
)
async def retrieve_checkout_session(
    session_id: str, auth: SessionsRead, session: SessionDep, settings: SettingsDep
) -> CheckoutSession:
    """Retrieve a checkout session (`status`, its `payment_intent`)."""
    return await checkout_session_service.retrieve(session, session_id, settings.base_url)


@sessions.post(
    "/{session_id}/expire",
    response_model=CheckoutSession,
    responses=error_responses(401, 403, 404, 409, 429),
)
async def expire_checkout_session(
    session_id: str, auth: SessionsWrite, session: SessionDep, settings: SettingsDep
) -> CheckoutSession:
    """Close an open session now (its payment intent is canceled). Refused while the payer
    may be approving an attempt."""
    return await checkout_session_service.expire(session, session_id, settings.base_url)


@links.post("", response_model=PaymentLink, responses=error_responses(400, 401, 403, 429))
async def create_payment_link(
    auth: LinksWrite, session: SessionDep, settings: SettingsDep, body: PaymentLinkCreate
) -> PaymentLink:
    """A reusable payment page at `url` (share it, print its QR code): each visit opens a
    checkout session, with the fixed `amount` or one the customer types within
    `custom_amount`."""
    return await payment_link_service.create(
        session, auth, body, settings.payments, settings.base_url
    )


@links.get(
    "", response_model=ListObject[PaymentLink], responses=error_responses(400, 401, 403, 429)
)
async def list_payment_links(
    request: Request,
    auth: LinksRead,
    session: SessionDep,
    settings: SettingsDep,
    params: Annotated[ListParams, Depends(list_params)],
    created: Annotated[CreatedRange, Depends(created_range)],
    active: Annotated[bool | None, Query()] = None,
) -> ListObject[PaymentLink]:
    """List payment links, newest first."""
    rows, has_more = await payment_link_service.list(
        session, params, settings.base_url, active=active, created=created
    )
    return ListObject(url=request.url.path, has_more=has_more, data=rows)


@links.get("/{link_id}", response_model=PaymentLink, responses=error_responses(401, 403, 404, 429))
async def retrieve_payment_link(
    link_id: str, auth: LinksRead, session: SessionDep, settings: SettingsDep
) -> PaymentLink:
    """Retrieve a payment link."""
    return await payment_link_service.retrieve(session, link_id, settings.base_url)


@links.patch(
    "/{link_id}", response_model=PaymentLink, responses=error_responses(400, 401, 403, 404, 429)
)
async def update_payment_link(
    link_id: str,
    auth: LinksWrite,
    session: SessionDep,
    settings: SettingsDep,
    body: PaymentLinkUpdate,
) -> PaymentLink:
    """Change `active`, `description`, `fields`, `after_completion` or `metadata`. A
    deactivated link's page says so and opens no session."""
    return await payment_link_service.update(session, auth, link_id, body, settings.base_url)


@links.get(
    "/{link_id}/payment_intents",
    response_model=ListObject[PaymentIntent],
    responses=error_responses(400, 401, 403, 404, 429),
)
async def list_payment_link_payments(
    request: Request,
    link_id: str,
    auth: LinksRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> ListObject[PaymentIntent]:
    """The payments made through this link (one payment intent per visit that went on to
    the payment page), newest first."""
    rows, has_more = await payment_link_service.payment_intents(session, link_id, params)
    return ListObject(url=request.url.path, has_more=has_more, data=list(rows))


QR_RESPONSES = {
    **error_responses(401, 403, 404, 429),
    200: {"content": {"image/svg+xml": {}, "image/png": {}}, "description": "The QR code."},
}


@links.get("/{link_id}/qr.svg", response_class=Response, responses=QR_RESPONSES)
async def payment_link_qr_svg(
    link_id: str, auth: LinksRead, session: SessionDep, settings: SettingsDep
) -> Response:
    """The link's `url` as a QR code (SVG, for print), made by `segno`."""
    url = await payment_link_service.url(session, link_id, settings.base_url)
    return Response(_qr(url, "svg"), media_type="image/svg+xml")


@links.get("/{link_id}/qr.png", response_class=Response, responses=QR_RESPONSES)
async def payment_link_qr_png(
    link_id: str, auth: LinksRead, session: SessionDep, settings: SettingsDep
) -> Response:
    """The link's `url` as a QR code (PNG, 8 pixels a module)."""
    url = await payment_link_service.url(session, link_id, settings.base_url)
    return Response(_qr(url, "png"), media_type="image/png")


def _qr(url: str, kind: str) -> bytes:
    out = io.BytesIO()
    # Error correction M: readable with a quarter of the code smudged (a printed counter sign).
    segno.make(url, error="m").save(out, kind=kind, scale=8, border=4)
    return out.getvalue()
