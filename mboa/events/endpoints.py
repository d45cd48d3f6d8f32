from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sse_starlette import EventSourceResponse

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.events.filters import TypeFilter, type_filter
from mboa.events.schemas import EventObject, as_object
from mboa.events.service import event as event_service
from mboa.kit.openapi import error_responses, list_response
from mboa.kit.pagination import CreatedRange, ListParams, created_range, list_params
from mboa.kit.schemas import ListObject, json_response
from mboa.routing import ApiRoute, ReadsDep, SessionDep
from mboa.state import get_state

router = APIRouter(prefix="/events", tags=["Events"], route_class=ApiRoute)

STREAM_SHUTDOWN_GRACE_SECONDS = 2.0
"""How long a stream gets to end by itself once the server stops: one poll at most, then it is
cancelled."""

EventsRead = Annotated[AuthSubject, Depends(ApiKeyAuth("events:read"))]


@router.get(
    "", response_model=ListObject[EventObject], responses=error_responses(400, 401, 403, 429)
)
async def list_events(
    request: Request,
    auth: EventsRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    created: Annotated[CreatedRange, Depends(created_range)],
    types: Annotated[TypeFilter, Depends(type_filter)],
    object_id: Annotated[
        str | None, Query(max_length=40, description="Only the events of this object.")
    ] = None,
    delivery_success: Annotated[
        bool | None,
        Query(
            description="`false`: only events with a webhook delivery that has not succeeded "
            "(pending or given up); `true`: only events whose every delivery succeeded."
        ),
    ] = None,
) -> ListObject[EventObject]:
    """List events of the last 30 days (at least), newest first. Filter by `type` (one name or
    a pattern with `*`, such as `payment_intent.*`) or `types[]` (up to 20), `created`,
    `object_id` and `delivery_success`."""
    filters = types.filters(created=created, object_id=object_id, delivery_success=delivery_success)
    rows, has_more = await event_service.list(session, params, filters)
    return list_response(request, rows, has_more, lambda row: as_object(*row))


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
            "description": "Server-sent events: `id:` is the event's id, `data:` the event "
            "object as JSON; comment lines are heartbeats.",
        },
        **error_responses(400, 401, 403, 429),
    },
)
async def stream_events(
    request: Request,
    auth: EventsRead,
    reads: ReadsDep,
    types: Annotated[TypeFilter, Depends(type_filter)],
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="Resume after this event: the events that followed it come first.",
        ),
    ] = None,
) -> Response:
    """Test mode only: the key's events as they commit, as server-sent events (what
    `mboa listen` reads). Resumable with `Last-Event-ID`; `type` / `types[]` filter as on the
    list."""
    settings = get_state(request).settings.events
    # Set by sse-starlette when the server stops: the stream then ends by itself, completing
    # the response (a cancelled one would end the connection mid-body).
    stopping = anyio.Event()
    body = await event_service.stream(
        reads,
        get_state(request).db,
        auth.tenant,
        last_event_id=last_event_id,
        types=types.patterns,
        settings=settings,
        stop=stopping,
    )
    return EventSourceResponse(
        body,
        ping=settings.stream_heartbeat_seconds,
        headers={"X-Accel-Buffering": "no"},
        shutdown_event=stopping,
        shutdown_grace_period=STREAM_SHUTDOWN_GRACE_SECONDS,
    )


@router.get(
    "/{event_id}", response_model=EventObject, responses=error_responses(401, 403, 404, 429)
)
async def retrieve_event(event_id: str, auth: EventsRead, reads: ReadsDep) -> Response:
    """Retrieve an event of the last 30 days (at least)."""
    return json_response(as_object(await event_service.retrieve(reads, event_id)))
