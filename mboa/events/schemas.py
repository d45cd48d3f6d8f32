"""The event object (docs/events.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from mboa.kit.schemas import Schema, UnixTimestamp
from mboa.models import Event

API_VERSION = "2026-12-01"
"""The version events are rendered in: `/v1` has one, and this names it (docs/events.md, "The
event object"). When a dated version follows (docs/api-conventions.md §D13), each event will
record the version it was written in."""


class EventData(Schema):
    object: dict[str, Any] = Field(description="The object as it was right after the change.")
    previous_attributes: dict[str, Any] | None = Field(
        default=None,
        description="On an event that describes a change of an existing object: the changed "
        "fields' values before it.",
    )


class EventRequest(Schema):
    id: str | None = Field(description="The API request that caused the event (`req_…`).")
    idempotency_key: str | None = Field(description="That request's `Idempotency-Key`, if any.")


class EventObject(Schema):
    id: str = Field(examples=["evt_01JD…"])
    object: Literal["event"] = "event"
    api_version: str = API_VERSION
    type: str = Field(examples=["payment_intent.succeeded"])
    created: UnixTimestamp
    livemode: bool
    sequence: int = Field(
        description="1, 2, 3… per object (`data.object.id`), in the order its changes "
        "committed: an event with a lower sequence than one already handled is stale."
    )
    data: EventData
    pending_webhooks: int = Field(
        description="Deliveries of this event to webhook endpoints not yet done: neither "
        "succeeded nor given up (docs/webhooks.md). In a webhook's body, as of that attempt."
    )
    request: EventRequest | None = Field(
        description="The API request that caused the event; null when our own work did (an "
        "operator's answer, an expiry)."
    )


def as_object(event: Event | Mapping[str, Any], pending_webhooks: int | None = None) -> EventObject:
    """The API's event from an ORM row or a read-path row (same attribute names; a read-path
    row carries its `pending_webhooks`, an ORM row gets it as the argument). The one renderer:
    the Events API, the stream and webhook bodies (mboa/webhooks/rendering.py) use it."""
    row: Mapping[str, Any] = (
        event
        if isinstance(event, Mapping)
        else {
            "id": event.id,
            "type": event.type,
            "livemode": event.livemode,
            "created_at": event.created_at,
            "data": event.data,
            "sequence": event.sequence,
            "request_id": event.request_id,
            "idempotency_key": event.idempotency_key,
        }
    )
    request_id = row["request_id"]
    return EventObject(
        id=row["id"],
        type=row["type"],
        created=row["created_at"],
        livemode=row["livemode"],
        sequence=row["sequence"],
        pending_webhooks=(
            pending_webhooks if pending_webhooks is not None else row.get("pending_webhooks", 0)
        ),
        data=EventData(
            object=row["data"]["object"],
            previous_attributes=row["data"].get("previous_attributes"),
        ),
        request=(
            EventRequest(id=request_id, idempotency_key=row["idempotency_key"])
            if request_id is not None
            else None
        ),
    )
