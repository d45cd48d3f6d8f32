"""Operator failures, split by what the caller may do about them.

`ProviderError` never reaches an API client as is: services switch it to an `MboaError`. Every
error keeps the operator's raw code and message for audit. `retryable` says whether repeating the
same call (with the same reference) can help; `outcome_unknown` says that the operator may have
acted although we got no answer, so the caller must read the status before deciding anything.
"""

from __future__ import annotations

from typing import ClassVar

from mboa.providers.types import FailureCode, ProviderName


class ProviderError(Exception):
    retryable: ClassVar[bool] = False
    counts_for_breaker: ClassVar[bool] = False
    """Whether this failure says the operator is unhealthy (opens the circuit breaker)."""

    def __init__(
        self,
        message: str,
        *,
        provider: ProviderName | None = None,
        operation: str | None = None,
        http_status: int | None = None,
        raw_code: str | None = None,
        raw_message: str | None = None,
        outcome_unknown: bool = False,
        failure_code: FailureCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.operation = operation
        self.http_status = http_status
        self.raw_code = raw_code
        self.raw_message = raw_message
        self.outcome_unknown = outcome_unknown
        self.failure_code = failure_code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider}, "
            f"operation={self.operation}, http_status={self.http_status}, raw_code={self.raw_code})"
        )


class ProviderUnavailable(ProviderError):
    """The operator did not answer usefully (5xx, connection failure); try again later."""

    retryable = True
    counts_for_breaker = True


class ProviderTimeout(ProviderUnavailable):
    """No answer in time. For a call that creates something the outcome is unknown."""


class CircuitOpen(ProviderUnavailable):
    """We stopped calling this operator product for a while after repeated failures."""

    counts_for_breaker = False


class ProviderInternalError(ProviderError):
    """The operator answered with a generic internal error (MTN 500 INTERNAL_PROCESSING_ERROR).

    Not retried automatically: the request may or may not have been processed, so read the
    status first (docs/providers-wire.md §1.10)."""

    counts_for_breaker = True


class ProviderRejected(ProviderError):
    """The operator refused this request for a business reason; repeating it will not help.
    `failure_code` says why, in our words."""


class ProviderConfigurationError(ProviderError):
    """Our account or settings are wrong (MTN 500 NOT_ALLOWED, INVALID_CURRENCY, bad callback
    host…): permanent until someone changes the configuration (docs/providers-wire.md §1.10)."""


class ProviderAuthError(ProviderConfigurationError):
    """Credentials were refused (subscription key, API user/key, consumer key, X-AUTH-TOKEN)."""


class ProviderNotFound(ProviderError):
    """The operator does not know this reference."""


class ReferenceConflict(ProviderError):
    """The operator already holds this reference for a different request: a bug on our side."""


class InvalidRequest(ProviderError):
    """The operator (or the adapter, before calling) found the request malformed."""


class InvalidNotification(ProviderError):
    """A callback body or token that cannot be trusted or parsed."""


class UnsupportedCapability(ProviderError):
    """This provider does not offer the requested capability (see its `ProviderSpec`)."""


class MalformedResponse(ProviderError):
    """The operator answered with a body we cannot read; treated like an outage."""

    retryable = True
    counts_for_breaker = True
