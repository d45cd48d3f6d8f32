"""The one error vocabulary of the platform.

Every failure a client can see is an `MboaError` rendered as Stripe's error object
`{"error": {"type", "code", "message", "param", "doc_url", "request_id"}}` by `mboa.exception_handlers`.
Domain modules subclass these in their own `exceptions.py` with a stable `code`.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from mboa.error_codes import doc_url


class ErrorType(enum.StrEnum):
    api_error = "api_error"
    """Something went wrong on our side."""
    invalid_request_error = "invalid_request_error"
    """The request was malformed, unauthorized, or refers to something that does not exist."""
    idempotency_error = "idempotency_error"
    """An Idempotency-Key was reused with different parameters."""
    rate_limit_error = "rate_limit_error"
    authentication_error = "authentication_error"
    permission_error = "permission_error"
    provider_error = "provider_error"
    """The mobile-money operator failed or declined (HTTP 402/424)."""


class MboaError(Exception):
    status_code: ClassVar[int] = 500
    type: ClassVar[ErrorType] = ErrorType.api_error
    code: ClassVar[str] = "internal_error"
    commit_writes: ClassVar[bool] = False
    """Rare: the writes made before this error must still be committed (e.g. a revocation)."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        if code is not None:
            self.code = code  # type: ignore[misc]

    def to_dict(self, request_id: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": str(self.type),
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "doc_url": doc_url(self.code),
            "request_id": request_id,
        }
        return {"error": body}


class BadRequest(MboaError):
    status_code = 400
    type = ErrorType.invalid_request_error
    code = "parameter_invalid"


class UnknownParameter(BadRequest):
    """A parameter the endpoint does not take, in the body or the query string (often a typo)."""

    code = "parameter_unknown"

    def __init__(self, param: str) -> None:
        super().__init__(f"Received unknown parameter: {param}", param=param)


class Unauthorized(MboaError):
    status_code = 401
    type = ErrorType.authentication_error
    code = "authentication_required"


class Forbidden(MboaError):
    status_code = 403
    type = ErrorType.permission_error
    code = "permission_denied"


class NotFound(MboaError):
    status_code = 404
    type = ErrorType.invalid_request_error
    code = "resource_missing"


class MethodNotAllowed(MboaError):
    status_code = 405
    type = ErrorType.invalid_request_error
    code = "method_not_allowed"


class Conflict(MboaError):
    status_code = 409
    type = ErrorType.invalid_request_error
    code = "conflict"


class PayloadTooLarge(MboaError):
    status_code = 413
    type = ErrorType.invalid_request_error
    code = "request_too_large"


class UnsupportedMediaType(MboaError):
    status_code = 415
    type = ErrorType.invalid_request_error
    code = "unsupported_content_type"


class TooManyRequests(MboaError):
    status_code = 429
    type = ErrorType.rate_limit_error
    code = "rate_limit"


class IdempotencyError(MboaError):
    status_code = 400
    type = ErrorType.idempotency_error
    code = "idempotency_key_reused"


class IdempotencyInProgress(MboaError):
    status_code = 409
    type = ErrorType.invalid_request_error
    code = "idempotency_key_in_use"


class ServiceUnavailable(MboaError):
    status_code = 503
    type = ErrorType.api_error
    code = "service_unavailable"


class DatabaseBusy(ServiceUnavailable):
    """Every database connection stayed busy for `database.pool_timeout_seconds`: a burst
    beyond what this process serves. Safe to retry (nothing was written)."""

    code = "database_busy"

    def __init__(self) -> None:
        super().__init__(
            "The service is busy; retry in a moment with the same Idempotency-Key.",
            headers={"Retry-After": "1"},
        )


class InternalError(MboaError):
    status_code = 500
    type = ErrorType.api_error
    code = "internal_error"
