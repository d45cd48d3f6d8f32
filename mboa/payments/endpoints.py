from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.config import PaymentsSettings
from mboa.kit.openapi import error_responses
from mboa.kit.pagination import CreatedRange, ListParams, created_range, list_params
from mboa.kit.schemas import ListObject, json_response
from mboa.payments.schemas import (
    PaymentIntent,
    PaymentIntentCancel,
    PaymentIntentConfirm,
    PaymentIntentCreate,
)
from mboa.payments.service import payment_intent as payment_intent_service
from mboa.payments.states import Status
from mboa.providers.types import ProviderName
from mboa.routing import ApiRoute, ReadsDep, SessionDep, WritesDep
from mboa.state import get_state

router = APIRouter(prefix="/payment_intents", tags=["Payment intents"], route_class=ApiRoute)

PaymentsRead = Annotated[AuthSubject, Depends(ApiKeyAuth("payment_intents:read"))]
PaymentsWrite = Annotated[AuthSubject, Depends(ApiKeyAuth("payment_intents:write"))]


async def _settings(request: Request) -> PaymentsSettings:
    # async: a plain function would cost every request a hop through the thread pool.
    return get_state(request).settings.payments


SettingsDep = Annotated[PaymentsSettings, Depends(_settings)]


@router.post(
    "", response_model=PaymentIntent, responses=error_responses(400, 401, 403, 404, 409, 429)
)
async def create_payment_intent(
    auth: PaymentsWrite, writes: WritesDep, settings: SettingsDep, body: PaymentIntentCreate
) -> Response:
    """Ask for money. With `phone` (and optionally `provider`) the payer's phone is prompted at
    once and the intent is `processing`; without, it waits in `requires_payment_method`."""
    # The lean write path (mboa.routing): one transaction on a bare connection, one commit.
    rendered = await payment_intent_service.create(writes, auth, body, settings)
    return Response(rendered, media_type="application/json")


@router.get(
    "", response_model=ListObject[PaymentIntent], responses=error_responses(400, 401, 403, 429)
)
async def list_payment_intents(
    request: Request,
    auth: PaymentsRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    created: Annotated[CreatedRange, Depends(created_range)],
    status: Annotated[Status | None, Query()] = None,
    provider: Annotated[ProviderName | None, Query()] = None,
    reference: Annotated[str | None, Query(max_length=100)] = None,
    customer: Annotated[str | None, Query(max_length=40)] = None,
    phone: Annotated[str | None, Query(max_length=20)] = None,
) -> ListObject[PaymentIntent]:
    """List payment intents, newest first."""
    rows, has_more = await payment_intent_service.list(
        session,
        params,
        status=status,
        provider=provider,
        reference=reference,
        customer=customer,
        phone=phone,
        created=created,
        allow_sandbox=not auth.tenant.livemode,
    )
    return ListObject(url=request.url.path, has_more=has_more, data=list(rows))


@router.get(
    "/{intent_id}", response_model=PaymentIntent, responses=error_responses(401, 403, 404, 429)
)
async def retrieve_payment_intent(intent_id: str, auth: PaymentsRead, reads: ReadsDep) -> Response:
    """Retrieve a payment intent (poll it until `succeeded` or `canceled`, or use events)."""
    return json_response(await payment_intent_service.retrieve(reads, intent_id))


@router.post(
    "/{intent_id}/confirm",
    response_model=PaymentIntent,
    responses=error_responses(400, 401, 403, 404, 409, 429),
)
async def confirm_payment_intent(
    intent_id: str,
    auth: PaymentsWrite,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[PaymentIntentConfirm | None, Body()] = None,
) -> PaymentIntent:
    """Start a new attempt: prompt `phone` (or the intent's number) to pay."""
    return await payment_intent_service.confirm(
        session, intent_id, body or PaymentIntentConfirm(), settings
    )


@router.post(
    "/{intent_id}/cancel",
    response_model=PaymentIntent,
    responses=error_responses(400, 401, 403, 404, 409, 429),
)
async def cancel_payment_intent(
    intent_id: str,
    auth: PaymentsWrite,
    session: SessionDep,
    body: Annotated[PaymentIntentCancel | None, Body()] = None,
) -> PaymentIntent:
    """Cancel an intent that is waiting for a payment method (not while an attempt runs)."""
    return await payment_intent_service.cancel(session, intent_id, body or PaymentIntentCancel())
