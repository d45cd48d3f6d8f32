"""Errors: one class per kind of failure, each carrying the API's error object
(docs/api-conventions.md §D7 in the Mboa Pay repository)."""

from __future__ import annotations

from typing import Any

import httpx


class MboaError(Exception):
    """Every error this SDK raises.

    For an answer of the API: `http_status`, `type`, `code` (stable, for programs), `message`
    (for people), `param` (the offending parameter, `metadata[k]` form), `doc_url` and
    `request_id` (quote it to support). A connection failure has only `message`.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        doc_url: str | None = None,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.type = type
        self.code = code
        self.param = param
        self.doc_url = doc_url
        self.request_id = request_id
        self.headers = headers if headers is not None else httpx.Headers()
        self.body = body

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.param:
            parts.append(f"param={self.param}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts) if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(http_status={self.http_status!r}, code={self.code!r}, "
            f"param={self.param!r}, request_id={self.request_id!r}, message={self.message!r})"
        )


class APIConnectionError(MboaError):
    """The request did not get an answer (refused, reset, DNS): retried automatically first."""


class APITimeoutError(APIConnectionError):
    """No answer within the timeout: retried automatically first."""


class APIError(MboaError):
    """The API answered with an error object (the base of the classes below)."""


class InvalidRequestError(APIError):
    """400: a parameter is missing or wrong (`param` names it); nothing was written."""


class AuthenticationError(APIError):
    """401: no valid API key."""


class PermissionDeniedError(APIError):
    """403: the key lacks the permission (a restricted key, a read-only role)."""


class NotFoundError(InvalidRequestError):
    """404: no such object for this key's merchant and mode."""


class ConflictError(APIError):
    """409: the object's state does not allow this (e.g. canceling a succeeded intent)."""


class IdempotencyError(APIError):
    """An `Idempotency-Key` reused with other parameters (400), or still running (409; retried
    automatically first)."""


class ProviderError(APIError):
    """402 / 424: the mobile-money operator declined, or is down."""


class RateLimitError(APIError):
    """429: too many requests for this key; retried automatically after `Retry-After` first."""


class ServerError(APIError):
    """5xx: a failure on Mboa Pay's side; retried automatically first."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: ProviderError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    424: ProviderError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for an error answer, from its error object (or its status alone when the
    body is not one, e.g. a proxy's 502 page)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text or None  # kept for the curious; the class comes from the status
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    status = response.status_code
    if error.get("type") == "idempotency_error" or error.get("code") == "idempotency_key_in_use":
        cls: type[APIError] = IdempotencyError
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, APIError)
    return cls(
        str(error.get("message") or f"HTTP {status}"),
        http_status=status,
        type=error.get("type"),
        code=error.get("code"),
        param=error.get("param"),
        doc_url=error.get("doc_url"),
        request_id=error.get("request_id") or response.headers.get("x-request-id"),
        headers=response.headers,
        body=body,
    )


def decode_success(response: httpx.Response) -> Any:
    """A success's JSON. A success that is not JSON (a captive portal's page, a misconfigured
    proxy's) raises an APIError with its status, not retried: the call may have run."""
    try:
        return response.json()
    except ValueError:
        raise APIError(
            f"HTTP {response.status_code} with a body that is not JSON",
            http_status=response.status_code,
            request_id=response.headers.get("x-request-id"),
            headers=response.headers,
            body=response.text,
        ) from None
