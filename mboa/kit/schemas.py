"""Pydantic bases for the public API's request and response bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from starlette.responses import Response

from mboa.exceptions import BadRequest
from mboa.kit.time import to_unix

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


class Schema(BaseModel):
    """Response bodies: built from ORM objects."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class InputSchema(BaseModel):
    """Request bodies: unknown fields are an error, so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"metadata can have at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise ValueError(f"metadata keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters")
        if "[" in key or "]" in key:
            raise ValueError("metadata keys cannot contain '[' or ']'")
        if len(item) > MAX_METADATA_VALUE_LENGTH:
            raise ValueError(
                f"metadata values can be at most {MAX_METADATA_VALUE_LENGTH} characters"
            )
    return value


Metadata = Annotated[
    dict[str, Annotated[str, Field(max_length=MAX_METADATA_VALUE_LENGTH)]],
    AfterValidator(_check_metadata),
    Field(
        description="Up to 50 keys of up to 40 characters, values up to 500 characters.",
        # What `_check_metadata` enforces, stated in the schema so generated clients know it.
        json_schema_extra={
            "maxProperties": MAX_METADATA_KEYS,
            "propertyNames": {
                "minLength": 1,
                "maxLength": MAX_METADATA_KEY_LENGTH,
                "pattern": r"^[^\[\]]+$",
            },
        },
    ),
]

UnixTimestamp = Annotated[dt.datetime, PlainSerializer(to_unix, return_type=int)]


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe semantics: an empty value removes a key; an empty object removes them all."""
    if update is None:
        return current
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > MAX_METADATA_KEYS:
        # Each key and value was checked with the request; only the sum can be too large.
        raise BadRequest(
            f"metadata can have at most {MAX_METADATA_KEYS} keys; this update would bring it "
            f"to {len(merged)}. Remove keys by setting them to an empty string.",
            param="metadata",
        )
    return merged


class ApiObject(Schema):
    """Fields every public object carries (docs/api-conventions.md §D1)."""

    id: str
    object: str
    livemode: bool
    created: UnixTimestamp = Field(validation_alias="created_at")
    metadata: dict[str, str] = Field(default_factory=dict, validation_alias="metadata_")


T = TypeVar("T")


class ListObject(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    url: str
    has_more: bool
    data: list[T]


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    """A model serialised by pydantic-core in one step. FastAPI passes a returned `Response`
    through as is, skipping a second validation against `response_model` (which still documents
    the route in OpenAPI)."""
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")
