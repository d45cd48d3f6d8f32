"""Error schemas for OpenAPI `responses=`, and the list-response helper."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field
from starlette.requests import Request

from mboa.kit.schemas import ListObject


class ErrorBody(BaseModel):
    type: Literal[
        "api_error",
        "invalid_request_error",
        "idempotency_error",
        "rate_limit_error",
        "authentication_error",
        "permission_error",
        "provider_error",
    ]
    code: str = Field(examples=["resource_missing"])
    message: str = Field(examples=["No such customer: 'cus_01JD…'"])
    param: str | None = Field(default=None, examples=["id"])
    doc_url: str = Field(
        description="What the code means and what to do.",
        examples=["http://127.0.0.1:8000/docs/errors#resource_missing"],
    )
    request_id: str | None = Field(default=None, examples=["req_01JD…"])


class ErrorObject(BaseModel):
    error: ErrorBody


_DESCRIPTIONS = {
    400: "Invalid request: a parameter is missing, unknown or invalid (see `param`).",
    401: "No valid API key or access token.",
    403: "The key or role lacks the permission, or live mode is not enabled.",
    404: "The object does not exist (or belongs to another merchant or mode).",
    409: "Conflict, e.g. a concurrent request with the same Idempotency-Key.",
    413: "Request body larger than 1 MB.",
    415: "Request body is not application/json.",
    429: "Too many requests; retry after `Retry-After` seconds.",
    500: "Something went wrong on our side.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    chosen = codes or (400, 401, 403, 404, 429, 500)
    return {
        code: {"model": ErrorObject, "description": _DESCRIPTIONS.get(code, "Error")}
        for code in chosen
    }


_METHODS = ("get", "put", "post", "delete", "patch")


def document_common_errors(schema: dict[str, Any]) -> None:
    """Add to every operation the error statuses that any route of its kind can answer.

    Every route refuses an undeclared query parameter (400) and can fail (500); a route with a
    body refuses one over 1 MB (413) or not JSON (415); a route that checks a bearer token answers
    401, 403 and 429. FastAPI's own 422 is replaced: our validation errors are 400s.
    """
    error = {"$ref": "#/components/schemas/ErrorObject"}
    for path in schema.get("paths", {}).values():
        for method, operation in path.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            codes = [400, 500]
            if "requestBody" in operation:
                codes += [413, 415]
            if operation.get("security"):
                codes += [401, 403, 429]
            for code in codes:
                responses.setdefault(
                    str(code),
                    {
                        "description": _DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": error}},
                    },
                )


S = TypeVar("S")


def list_response(
    request: Request, rows: Iterable[Any], has_more: bool, convert: Callable[[Any], S]
) -> ListObject[S]:
    return ListObject[S](url=request.url.path, has_more=has_more, data=[convert(r) for r in rows])
