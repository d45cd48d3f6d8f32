"""The event as a webhook's body: the Events API's event object (mboa/events/schemas.py
`as_object`), so a delivered body and `GET /v1/events/{id}` carry the same fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mboa.events.schemas import as_object
from mboa.models import Event


def event_body(event: Event | Mapping[str, Any], *, pending_webhooks: int) -> bytes:
    """The exact bytes that are signed and sent: rendered once per attempt. `pending_webhooks`
    is the event's count as of this attempt (this delivery included while it is pending)."""
    return as_object(event, pending_webhooks).model_dump_json().encode()
