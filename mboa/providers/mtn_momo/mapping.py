"""MTN statuses, reasons and error responses -> neutral statuses and `ProviderError`s."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from mboa.providers.errors import (
    InvalidRequest,
    ProviderAuthError,
    ProviderConfigurationError,
    ProviderError,
    ProviderInternalError,
    ProviderNotFound,
    ProviderUnavailable,
    ReferenceConflict,
)
from mboa.providers.mtn_momo.wire import ErrorBody
from mboa.providers.types import FailureCode, Product, ProviderName, TransactionStatus

_STATUS = {
    "SUCCESSFUL": TransactionStatus.succeeded,
    "FAILED": TransactionStatus.failed,
    "PENDING": TransactionStatus.pending,
    # Seen between acceptance and processing by a public probe (docs/providers-wire.md §1.6).
    "CREATED": TransactionStatus.pending,
}

_REASONS = {
    "NOT_ENOUGH_FUNDS": FailureCode.insufficient_funds,
    "APPROVAL_REJECTED": FailureCode.declined,
    "PAYMENT_NOT_APPROVED": FailureCode.declined,
    "TRANSACTION_CANCELED": FailureCode.declined,
    "EXPIRED": FailureCode.expired,
    # "payer did not approve within 5 minutes" (docs/providers-wire.md §1.10).
    "COULD_NOT_PERFORM_TRANSACTION": FailureCode.expired,
    "PAYER_NOT_FOUND": FailureCode.payer_not_found,
    "PAYEE_NOT_FOUND": FailureCode.payee_not_found,
    "PAYEE_NOT_ALLOWED_TO_RECEIVE": FailureCode.payee_not_allowed,
    "PAYER_LIMIT_REACHED": FailureCode.limit_reached,
    "SENDER_ACCOUNT_NOT_ACTIVE": FailureCode.not_allowed,
    "NOT_ALLOWED": FailureCode.not_allowed,
    "NOT_ALLOWED_TARGET_ENVIRONMENT": FailureCode.not_allowed,
    "INVALID_CURRENCY": FailureCode.not_allowed,
    "INVALID_CALLBACK_URL_HOST": FailureCode.not_allowed,
    "INTERNAL_PROCESSING_ERROR": FailureCode.operator_error,
    "SERVICE_UNAVAILABLE": FailureCode.operator_error,
    "TRANSACTION_NOT_FOUND": FailureCode.operator_error,
    "PAYER_FAILED": FailureCode.operator_error,
}

# HTTP 500 codes that describe our account or configuration: permanent until someone fixes
# the settings, so never retried (docs/providers-wire.md §1.10).
CONFIG_CODES = frozenset(
    {
        "NOT_ALLOWED",
        "NOT_ALLOWED_TARGET_ENVIRONMENT",
        "INVALID_CALLBACK_URL_HOST",
        "INVALID_CURRENCY",
    }
)


def map_status(raw: str | None) -> TransactionStatus:
    """Unknown or missing statuses are not final (docs/providers-wire.md §1.6)."""
    if raw is None:
        return TransactionStatus.pending
    return _STATUS.get(raw.strip().upper(), TransactionStatus.pending)


def map_reason(raw: str | None, product: Product | None = None) -> FailureCode:
    """`product` when known (a callback's is not: its status read, which knows, decides)."""
    if not raw:
        return FailureCode.unknown
    failure = _REASONS.get(raw.strip().upper(), FailureCode.unknown)
    if product is Product.collection and failure is FailureCode.payee_not_allowed:
        # On a request to pay the payee is our own merchant account (sandbox number 456): a
        # refusal of our account, not of the payer's wallet.
        return FailureCode.not_allowed
    return failure


def error_body(response: httpx.Response) -> ErrorBody:
    try:
        return ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return ErrorBody(message=response.text[:200] or None)


def raise_for_response(response: httpx.Response, *, operation: str) -> None:
    """Apply MTN's error table (docs/providers-wire.md §1.10) to a non-2xx response."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = error_body(response)
    code = body.any_code
    text = f"MTN MoMo {operation}: HTTP {status} {code or ''}".strip()

    def error(cls: type[ProviderError], **extra: Any) -> ProviderError:
        return cls(
            text,
            provider=ProviderName.mtn_momo,
            operation=operation,
            http_status=status,
            raw_code=code,
            raw_message=body.any_message,
            **extra,
        )

    if status in (401, 403):
        raise error(ProviderAuthError)
    if status == 404:
        raise error(ProviderNotFound)
    if status == 409:
        raise error(ReferenceConflict)
    if 400 <= status < 500:
        raise error(InvalidRequest)
    if status == 500 and code is not None and code.upper() in CONFIG_CODES:
        raise error(ProviderConfigurationError, failure_code=FailureCode.not_allowed)
    if status == 500:
        # Generic failure: the request may have been processed; read before retrying.
        raise error(ProviderInternalError, outcome_unknown=True)
    raise error(ProviderUnavailable)
