from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.kit.openapi import error_responses, list_response
from mboa.kit.pagination import ListParams, list_params
from mboa.kit.schemas import ListObject
from mboa.models import WebhookAttempt as WebhookAttemptRow
from mboa.models import WebhookDelivery as WebhookDeliveryRow
from mboa.routing import ApiRoute, SessionDep
from mboa.state import get_state
from mboa.webhooks.crypto import SecretBox, secret_box
from mboa.webhooks.schemas import (
    DeletedWebhookEndpoint,
    EventResend,
    EventResendResult,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointRoll,
    WebhookEndpointUpdate,
)
from mboa.webhooks.service import webhook_endpoint as webhook_endpoint_service

router = APIRouter(prefix="/webhook_endpoints", tags=["Webhook endpoints"], route_class=ApiRoute)
events_router = APIRouter(prefix="/events", tags=["Webhook endpoints"], route_class=ApiRoute)

EndpointsRead = Annotated[AuthSubject, Depends(ApiKeyAuth("webhook_endpoints:read"))]
EndpointsWrite = Annotated[AuthSubject, Depends(ApiKeyAuth("webhook_endpoints:write"))]


def _box(request: Request) -> SecretBox:
    return secret_box(get_state(request).settings)


BoxDep = Annotated[SecretBox, Depends(_box)]


def _with_secret(endpoint: Any, secret: str) -> WebhookEndpoint:
    return WebhookEndpoint.model_validate(endpoint).model_copy(update={"secret": secret})


def _delivery(row: WebhookDeliveryRow, attempts: list[WebhookAttemptRow]) -> WebhookDelivery:
    return WebhookDelivery.model_validate(row).model_copy(
        update={"attempts": [WebhookAttempt.model_validate(a) for a in attempts]}
    )


@router.post("", response_model=WebhookEndpoint, responses=error_responses(400, 401, 403, 409, 429))
async def create_webhook_endpoint(
    request: Request,
    auth: EndpointsWrite,
    session: SessionDep,
    box: BoxDep,
    body: Annotated[WebhookEndpointCreate, Body()],
) -> WebhookEndpoint:
    """Create a webhook endpoint in the key's merchant and mode. The answer carries the signing
    secret (`whsec_…`): it is shown this once (a replay of this request shows `redacted`)."""
    endpoint, secret = await webhook_endpoint_service.create(
        session, auth, body=body, box=box, settings=get_state(request).settings.webhooks
    )
    return _with_secret(endpoint, secret)


@router.get(
    "", response_model=ListObject[WebhookEndpoint], responses=error_responses(400, 401, 403, 429)
)
async def list_webhook_endpoints(
    request: Request,
    auth: EndpointsRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
) -> ListObject[WebhookEndpoint]:
    """List webhook endpoints, newest first."""
    rows, has_more = await webhook_endpoint_service.list(session, params)
    return list_response(request, rows, has_more, WebhookEndpoint.model_validate)


@router.get(
    "/{endpoint_id}", response_model=WebhookEndpoint, responses=error_responses(401, 403, 404, 429)
)
async def retrieve_webhook_endpoint(
    endpoint_id: str, auth: EndpointsRead, session: SessionDep
) -> WebhookEndpoint:
    """Retrieve a webhook endpoint (never its secret)."""
    return WebhookEndpoint.model_validate(await webhook_endpoint_service.get(session, endpoint_id))


async def _update(
    endpoint_id: str, auth: AuthSubject, session: Any, body: WebhookEndpointUpdate | None
) -> WebhookEndpoint:
    updated = await webhook_endpoint_service.update(
        session, auth, endpoint_id, body=body or WebhookEndpointUpdate()
    )
    return WebhookEndpoint.model_validate(updated)


@router.post("/{endpoint_id}", response_model=WebhookEndpoint, responses=error_responses())
async def update_webhook_endpoint(
    endpoint_id: str,
    auth: EndpointsWrite,
    session: SessionDep,
    body: Annotated[WebhookEndpointUpdate | None, Body()] = None,
) -> WebhookEndpoint:
    """Update a webhook endpoint: only the fields sent change. `status: enabled` re-enables a
    disabled endpoint (its failures so far are forgotten)."""
    return await _update(endpoint_id, auth, session, body)


@router.patch("/{endpoint_id}", response_model=WebhookEndpoint, responses=error_responses())
async def patch_webhook_endpoint(
    endpoint_id: str,
    auth: EndpointsWrite,
    session: SessionDep,
    body: Annotated[WebhookEndpointUpdate | None, Body()] = None,
) -> WebhookEndpoint:
    """Update a webhook endpoint (the same as `POST /v1/webhook_endpoints/{id}`)."""
    return await _update(endpoint_id, auth, session, body)


@router.delete(
    "/{endpoint_id}",
    response_model=DeletedWebhookEndpoint,
    responses=error_responses(401, 403, 404, 429),
)
async def delete_webhook_endpoint(
    endpoint_id: str, auth: EndpointsWrite, session: SessionDep
) -> DeletedWebhookEndpoint:
    """Delete a webhook endpoint: nothing more is sent to it; its delivery log is kept."""
    deleted = await webhook_endpoint_service.delete(session, endpoint_id)
    return DeletedWebhookEndpoint(id=deleted.id)


@router.post(
    "/{endpoint_id}/roll_secret",
    response_model=WebhookEndpoint,
    responses=error_responses(400, 401, 403, 404, 409, 429),
)
async def roll_webhook_endpoint_secret(
    endpoint_id: str,
    auth: EndpointsWrite,
    session: SessionDep,
    box: BoxDep,
    body: Annotated[WebhookEndpointRoll | None, Body()] = None,
) -> WebhookEndpoint:
    """Replace the signing secret. The old one keeps signing beside the new one for
    `expires_in` seconds (at most 24 h): both signatures are sent meanwhile. The answer carries
    the new secret, shown this once."""
    endpoint, secret = await webhook_endpoint_service.roll_secret(
        session, endpoint_id, expires_in=(body or WebhookEndpointRoll()).expires_in, box=box
    )
    return _with_secret(endpoint, secret)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=ListObject[WebhookDelivery],
    responses=error_responses(400, 401, 403, 404, 429),
)
async def list_webhook_deliveries(
    request: Request,
    endpoint_id: str,
    auth: EndpointsRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    event: Annotated[str | None, Query(max_length=64, description="Only this event.")] = None,
    outcome: Annotated[
        Literal["succeeded", "failed", "pending"] | None,
        Query(description="Delivered, given up, or still being tried."),
    ] = None,
) -> ListObject[WebhookDelivery]:
    """The delivery log of an endpoint, newest first: each delivery with its attempts (time,
    HTTP status, latency, the first 2 KB of the answer, error, next retry)."""
    rows, has_more = await webhook_endpoint_service.list_deliveries(
        session, endpoint_id, params, event_id=event, outcome=outcome
    )
    return ListObject[WebhookDelivery](
        url=request.url.path, has_more=has_more, data=[_delivery(r, a) for r, a in rows]
    )


@events_router.post(
    "/{event_id}/resend",
    response_model=EventResendResult,
    responses=error_responses(400, 401, 403, 404, 409, 429),
)
async def resend_event(
    event_id: str,
    auth: EndpointsWrite,
    session: SessionDep,
    body: Annotated[EventResend | None, Body()] = None,
) -> EventResendResult:
    """Send an event again, delivered or not: to `endpoint`, or to every enabled endpoint that
    takes its type. Each is one more attempt in the endpoint's delivery log, with the same
    `webhook-id`."""
    deliveries = await webhook_endpoint_service.resend(
        session, event_id, endpoint_id=(body or EventResend()).endpoint
    )
    return EventResendResult(
        event=event_id, deliveries=[WebhookDelivery.model_validate(d) for d in deliveries]
    )
