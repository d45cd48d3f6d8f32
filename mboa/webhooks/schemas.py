from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, StrictInt, field_validator

from mboa.kit.schemas import ApiObject, InputSchema, Metadata, Schema, Secret, UnixTimestamp
from mboa.webhooks.event_types import ALL_EVENTS, EVENT_TYPES

MAX_ROLL_OVERLAP_SECONDS = 86_400
EndpointStatus = Literal["enabled", "disabled"]


def _known_event(item: str) -> str:
    # Checked per item, so that the error names the item (`enabled_events[2]`), as docs/webhooks.md
    # says; a check over the whole list could only name `enabled_events`.
    if item != ALL_EVENTS and item not in EVENT_TYPES:
        raise ValueError(f"unknown event type {item!r} (use '*' or a type from the docs)")
    return item


def _distinct(value: list[str] | None) -> list[str] | None:
    return value if value is None else list(dict.fromkeys(value))


EnabledEvent = Annotated[
    str,
    AfterValidator(_known_event),
    Field(
        description="An event type, or `*` for every type.",
        # Stated in the schema so that clients (and schemathesis) know the list; the validator
        # below enforces it.
        json_schema_extra={"enum": [ALL_EVENTS, *sorted(EVENT_TYPES)]},
    ),
]


class WebhookEndpoint(ApiObject):
    """A URL that receives the merchant's events (`we_…`). `secret` (`whsec_…`) is present only
    in the answers that create it: the endpoint's creation and `roll_secret`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "we_01JD5Z8Q4Y2V6N3K7M9P1R0S2T",
                    "object": "webhook_endpoint",
                    "livemode": False,
                    "created": 1795750600,
                    "metadata": {},
                    "url": "https://shop.example.cm/webhooks/mboa",
                    "enabled_events": ["payment_intent.succeeded"],
                    "description": "Orders",
                    "status": "enabled",
                    "disabled_reason": None,
                }
            ]
        }
    )

    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    enabled_events: list[str]
    description: str | None
    status: EndpointStatus
    disabled_reason: str | None = None
    secret: Secret | None = None


class WebhookEndpointCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://shop.example.cm/webhooks/mboa",
                    "enabled_events": ["payment_intent.succeeded", "refund.succeeded"],
                }
            ]
        }
    )

    url: str = Field(max_length=2048)
    enabled_events: list[EnabledEvent] = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    metadata: Metadata | None = None

    _events = field_validator("enabled_events")(_distinct)


class WebhookEndpointUpdate(InputSchema):
    url: str | None = Field(default=None, max_length=2048)
    enabled_events: list[EnabledEvent] | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    metadata: Metadata | None = None
    status: EndpointStatus | None = None

    _events = field_validator("enabled_events")(_distinct)


class WebhookEndpointRoll(InputSchema):
    expires_in: StrictInt = Field(
        default=0,
        ge=0,
        le=MAX_ROLL_OVERLAP_SECONDS,
        description="Seconds the old secret keeps signing beside the new one (0 to 24 h).",
    )


class DeletedWebhookEndpoint(Schema):
    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    deleted: Literal[True] = True


class WebhookAttempt(Schema):
    """One HTTP attempt of a delivery."""

    created: UnixTimestamp = Field(validation_alias="created_at")
    trigger: Literal["automatic", "resend"]
    outcome: Literal["succeeded", "failed"]
    http_status: int | None
    latency_ms: int | None
    response_body: str | None = Field(description="The first 2 KB of the answer.")
    error: str | None
    next_retry_at: UnixTimestamp | None


class WebhookDelivery(Schema):
    """One event to one endpoint, with its attempts (newest first)."""

    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    livemode: bool
    created: UnixTimestamp = Field(validation_alias="created_at")
    event: str = Field(validation_alias="event_id")
    event_type: str
    webhook_endpoint: str = Field(validation_alias="endpoint_id")
    status: Literal["pending", "succeeded", "failed"]
    attempt_count: int
    next_attempt_at: UnixTimestamp | None
    attempts: list[WebhookAttempt] = Field(default_factory=list)


class EventResend(InputSchema):
    endpoint: str | None = Field(
        default=None,
        max_length=64,
        description="One endpoint (`we_…`); default: every enabled one.",
    )


class EventResendResult(Schema):
    object: Literal["event_resend"] = "event_resend"
    event: str
    deliveries: list[WebhookDelivery]
