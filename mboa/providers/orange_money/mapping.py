"""Orange statuses, codes and error responses -> neutral statuses and `ProviderError`s."""

from __future__ import annotations

import unicodedata
from typing import Any

import httpx
import orjson

from mboa.providers.errors import (
    InvalidRequest,
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderUnavailable,
)
from mboa.providers.types import FailureCode, ProviderName, TransactionStatus

_STATUS = {
    "PENDING": TransactionStatus.pending,
    "INITIATED": TransactionStatus.pending,
    # omcoreapis really spells it SUCCESSFULL (docs/providers-wire.md §2.2); WebPay says SUCCESS.
    "SUCCESSFULL": TransactionStatus.succeeded,
    "SUCCESSFUL": TransactionStatus.succeeded,
    "SUCCESS": TransactionStatus.succeeded,
    "FAILED": TransactionStatus.failed,
    "EXPIRED": TransactionStatus.failed,
    "CANCELLED": TransactionStatus.failed,
    "CANCELED": TransactionStatus.failed,
}

_CODES = {
    # "60019 :: Le solde du compte du payeur est insuffisant" (docs/providers-wire.md §2.2).
    "60019": FailureCode.insufficient_funds,
}

# Orange's known French failure messages (docs/providers-wire.md §2.2), accents stripped.
_MESSAGES = (
    ("insuffisant", FailureCode.insufficient_funds),
    ("introuvable", FailureCode.payer_not_found),
    ("bloque", FailureCode.not_allowed),
    ("montant superieur", FailureCode.limit_reached),
    ("refus", FailureCode.declined),
    ("annul", FailureCode.declined),
)


def map_status(raw: str | None) -> TransactionStatus:
    """Unknown statuses are not final (docs/providers-wire.md §5.3)."""
    if raw is None:
        return TransactionStatus.pending
    return _STATUS.get(raw.strip().upper(), TransactionStatus.pending)


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def map_failure(
    raw_status: str | None, codes: tuple[str | None, ...], messages: tuple[str | None, ...]
) -> FailureCode:
    status = (raw_status or "").strip().upper()
    if status == "EXPIRED":
        return FailureCode.expired
    if status in {"CANCELLED", "CANCELED"}:
        return FailureCode.declined
    for code in codes:
        if code and code.strip() in _CODES:
            return _CODES[code.strip()]
    for message in messages:
        if not message:
            continue
        head = message.split("::", 1)[0].strip()
        if head in _CODES:
            return _CODES[head]
        plain = _plain(message)
        for needle, failure in _MESSAGES:
            if needle in plain:
                return failure
    return FailureCode.unknown


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {"message": response.text[:200]}
    return data if isinstance(data, dict) else {}


def raise_for_response(response: httpx.Response, *, operation: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    body = _body(response)
    fault = body.get("fault") if isinstance(body.get("fault"), dict) else None
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    assert isinstance(data, dict)
    message = str((fault or body).get("message") or "") or None
    code_value = (fault or {}).get("code") or data.get("inittxnstatus") or body.get("code")
    code = str(code_value) if code_value is not None else None
    text = f"Orange Money {operation}: HTTP {status} {message or ''}".strip()

    def error(cls: type[ProviderError], **extra: Any) -> ProviderError:
        return cls(
            text,
            provider=ProviderName.orange_money,
            operation=operation,
            http_status=status,
            raw_code=code,
            raw_message=message,
            **extra,
        )

    if status in (401, 403):
        raise error(ProviderAuthError)
    if status == 404:
        raise error(ProviderNotFound)
    if status == 417:
        # A business refusal with the transaction attached, e.g. insufficient funds on mp/pay
        # (orangemoney-go test `PayWithInsufficientFunds`).
        failure = map_failure(
            str(data.get("status")) if data.get("status") else None,
            (code,),
            (message, str(data.get("inittxnmessage") or "")),
        )
        raise error(ProviderRejected, failure_code=failure)
    if 400 <= status < 500:
        raise error(InvalidRequest)
    # No documented 5xx table for Orange: treat every 5xx as an outage whose effect on a
    # `pay` is unknown, so the adapter reads the status before sending again.
    raise error(ProviderUnavailable, outcome_unknown=True)
