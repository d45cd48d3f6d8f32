"""Masking of secrets and phone numbers before anything reaches a log line.

Phone numbers keep at most their last 3 digits; secrets keep nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

SECRET_KEYS = frozenset(
    {
        "authorization",
        "ocp-apim-subscription-key",
        "x-auth-token",
        "pin",
        "apikey",
        "api_key",
        "access_token",
        "client_secret",
        "consumer_secret",
        "password",
        "api_password",
        "notif_token",
        "merchant_key",
        "subscription_key",
        "token",
    }
)
PHONE_KEYS = frozenset(
    {
        "partyid",
        "msisdn",
        "subscribermsisdn",
        "channelusermsisdn",
        "phone",
        "accountholderid",
        "payer_phone",
        "payee_phone",
    }
)
# Digit runs of phone-number length that are not part of a longer token (payToken, UUID).
_LONG_DIGITS = re.compile(r"(?<![0-9A-Za-z])\+?\d{8,15}(?![0-9A-Za-z])")


def mask_phone(value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    if len(digits) <= 3:
        return "*" * len(digits)
    return "*" * (len(digits) - 3) + "".join(digits[-3:])


def mask_text(value: str) -> str:
    """Mask phone-number-like digit runs (inside URLs or messages)."""
    return _LONG_DIGITS.sub(lambda m: mask_phone(m.group(0)), value)


def mask_value(key: str, value: Any) -> Any:
    lowered = key.lower()
    if lowered in SECRET_KEYS:
        return "***" if value else value
    if lowered in PHONE_KEYS and isinstance(value, str):
        return mask_phone(value)
    if isinstance(value, Mapping):
        return mask_mapping(value)
    if isinstance(value, list | tuple):
        return [mask_value(key, item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): mask_value(str(k), v) for k, v in data.items()}


def structlog_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor masking secrets and phone numbers anywhere in the event."""
    return mask_mapping(event_dict)
