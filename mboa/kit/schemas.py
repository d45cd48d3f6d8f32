"""Pydantic bases for the public API's request and response bodies."""

from __future__ import annotations

import datetime as dt
import functools
import types
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, cast, get_args, get_origin

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.fields import FieldInfo
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


# -- secrets -------------------------------------------------------------------------------------
# A credential (an API key's secret, a token, a webhook signing secret) exists in the one response
# that creates it and nowhere else: never in the database, a log or a stored Idempotency-Key
# response (docs/architecture.md, "Secrets"). Response schemas say which fields carry one with
# `Secret`; `redact_secrets` is what every copy of a response kept after it was sent goes through.


class _SecretMarker:
    def __repr__(self) -> str:
        return "SECRET"


SECRET = _SecretMarker()
"""The marker `Secret` carries; `is_secret_field` looks for it."""

Secret = Annotated[
    str,
    SECRET,
    Field(json_schema_extra={"x-mboa-secret": True}),
]
"""A response field carrying a credential: shown once, never stored (`redact_secrets`)."""

REDACTED = "redacted"
"""What a secret reads as in any copy of a response (an Idempotency-Key replay)."""


def _marked(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return any(item is SECRET for item in metadata) or _marked(base)
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_marked(arg) for arg in get_args(annotation))
    return False


def is_secret_field(field: FieldInfo) -> bool:
    """Whether a schema field is declared `Secret` (or `Secret | None`)."""
    return any(item is SECRET for item in field.metadata) or _marked(field.annotation)


def _output_name(name: str, field: FieldInfo) -> str:
    return field.serialization_alias or field.alias or name


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


@functools.cache
def carries_secrets(annotation: Any) -> bool:
    """Whether a response of this type can hold a `Secret` field, however deeply nested."""
    model = _model_of(annotation)
    if model is not None:
        return any(
            is_secret_field(field) or carries_secrets(cast(Any, field.annotation))
            for field in model.model_fields.values()
        )
    return any(carries_secrets(arg) for arg in _type_args(annotation))


def _type_args(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) is Annotated:
        return get_args(annotation)[:1]  # the metadata is not a type
    if get_origin(annotation) is Literal:
        return ()
    return get_args(annotation)


def _redact(value: Any, annotation: Any) -> Any:
    model = _model_of(annotation)
    if model is not None:
        if isinstance(value, dict):
            for name, field in model.model_fields.items():
                key = _output_name(name, field)
                if key not in value:
                    continue
                if is_secret_field(field):
                    if value[key] is not None:
                        value[key] = REDACTED
                else:
                    value[key] = _redact(value[key], field.annotation)
        return value
    args = [arg for arg in _type_args(annotation) if carries_secrets(arg)]
    if not args:
        return value
    if get_origin(annotation) in (Annotated, Union, types.UnionType):
        # Every member of a union that could hold a secret: redacting too much is the safe side.
        for arg in args:
            value = _redact(value, arg)
        return value
    if isinstance(value, list):  # list[X], tuple[X, ...], set[X]
        return [_redact(item, args[-1]) for item in value]
    if isinstance(value, dict):  # dict[str, X]
        return {key: _redact(item, args[-1]) for key, item in value.items()}
    return value


def redact_secrets(body: bytes, annotation: Any) -> bytes:
    """A JSON response body of type `annotation` with every `Secret` value replaced by
    `REDACTED` (unchanged if the type holds no secret or the body is not JSON)."""
    if not carries_secrets(annotation):
        return body
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    return orjson.dumps(_redact(value, annotation))
