"""Verifying the webhooks Mboa Pay sends, per Standard Webhooks (docs/webhooks.md in the Mboa Pay
repository), with the official `standardwebhooks` library."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ._errors import MboaError
from ._models import EventData, EventRequest

__all__ = ["SignatureVerificationError", "WebhookEvent", "sign", "verify"]


class WebhookEvent(BaseModel):
    """The event a delivery carries: the Events API's object, whose `request`, `sequence` and
    `api_version` a delivery may leave out (read the event with `client.events.retrieve(id)`
    for all of it)."""

    model_config = ConfigDict(extra="allow")
    id: str
    object: str = "event"
    type: str
    created: int
    livemode: bool
    data: EventData
    api_version: str | None = None
    request: EventRequest | None = None
    sequence: int | None = None


class SignatureVerificationError(MboaError):
    """The request is not a delivery from Mboa Pay signed with this secret (or it is older than
    five minutes): answer 400 and ignore it."""


def verify(payload: bytes | str, headers: Mapping[str, str], secret: str) -> WebhookEvent:
    """The event a delivery carries, once its signature checks out.

    `payload` is the request body **as received** (bytes; never re-serialised JSON), `headers`
    the request's headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`; any case),
    `secret` the endpoint's `whsec_…`. Raises `SignatureVerificationError` otherwise.
    Deliveries can repeat: de-duplicate on the event's `id` (the `webhook-id` header).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        event: Any = Webhook(secret).verify(payload, lowered)
    except WebhookVerificationError as exc:
        raise SignatureVerificationError(str(exc) or "invalid signature") from exc
    return WebhookEvent.model_validate(event)


def sign(payload: bytes | str, secret: str, *, msg_id: str, timestamp: dt.datetime) -> str:
    """The `webhook-signature` header for `payload` (to test your own receiver)."""
    body = payload.decode() if isinstance(payload, bytes) else payload
    return Webhook(secret).sign(msg_id, timestamp, body)
