from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictInt

from mboa.kit.schemas import InputSchema, Schema, Secret, UnixTimestamp
from mboa.kit.time import MAX_UNIX_TIME
from mboa.models import ApiKeyType

MAX_ROLL_OVERLAP_SECONDS = 7 * 86_400


class ApiKey(Schema):
    """An API key. `secret` is present only in the response that created it."""

    id: str
    object: Literal["api_key"] = "api_key"
    livemode: bool
    type: ApiKeyType
    name: str | None
    redacted: str = Field(description="The key's prefix and last four characters.")
    scopes: list[str]
    created: UnixTimestamp = Field(validation_alias="created_at")
    last_used: UnixTimestamp | None = Field(
        description="When the key last authenticated a request, to the minute (the start of that"
        " minute); written in batches, so a call shows here within about a minute. Null if never.",
    )
    expires_at: UnixTimestamp | None
    revoked_at: UnixTimestamp | None
    rolled_to: str | None
    secret: Secret | None = None
    """The key itself, in the response that created it only (never stored, never replayed)."""


class ApiKeyCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"type": "secret", "name": "backend"},
                {"type": "restricted", "name": "reporting", "scopes": ["customers:read"]},
            ]
        }
    )

    type: Literal["secret", "publishable", "restricted"] = "secret"
    name: str | None = Field(default=None, max_length=200)
    scopes: list[str] | None = Field(
        default=None, description="Restricted keys only, e.g. ['customers:read']."
    )
    expires_at: StrictInt | None = Field(
        default=None, ge=0, le=MAX_UNIX_TIME, description="Unix time after which it stops working."
    )


class ApiKeyRoll(InputSchema):
    expires_in: StrictInt = Field(
        default=0,
        ge=0,
        le=MAX_ROLL_OVERLAP_SECONDS,
        description="Seconds the old key keeps working (0 = stops now, at most 7 days).",
    )


def redact(prefix: str, last4: str) -> str:
    return f"{prefix}…{last4}"


def to_schema(key: object, secret: str | None = None) -> ApiKey:
    from mboa.models import ApiKey as ApiKeyModel

    assert isinstance(key, ApiKeyModel)
    return ApiKey(
        id=key.id,
        livemode=key.livemode,
        type=key.type,
        name=key.name,
        redacted=redact(key.prefix, key.last4),
        scopes=list(key.scopes),
        created=key.created_at,
        last_used=key.last_used_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        rolled_to=key.rolled_to,
        secret=secret,
    )
