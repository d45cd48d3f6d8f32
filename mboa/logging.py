"""Structured JSON logs (structlog). Secrets, API keys and phone numbers never reach a log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

_KEY = re.compile(r"\b((?:sk|pk|rk)_(?:test|live)_|rt_|whsec_)[A-Za-z0-9]+([A-Za-z0-9]{4})\b")
_PHONE = re.compile(r"(?<![\w])(\+?237)?([2-9]\d{5})(\d{3})(?![\w])")
# One scan that finds nothing in most values (every access-log line masks its fields).
_MAYBE_SENSITIVE = re.compile(f"(?:{_KEY.pattern})|(?:{_PHONE.pattern})")
_SECRET_FIELDS = {
    "password",
    "secret",
    "authorization",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "api_secret",
    "subscription_key",
}


def mask_text(value: str) -> str:
    if _MAYBE_SENSITIVE.search(value) is None:
        return value
    value = _KEY.sub(lambda m: f"{m.group(1)}…{m.group(2)}", value)
    return _PHONE.sub(lambda m: f"{m.group(1) or ''}******{m.group(3)}", value)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {
            k: "[redacted]" if str(k).lower() in _SECRET_FIELDS else _mask(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def mask_event(event: dict[str, Any]) -> dict[str, Any]:
    """The same masking over a whole structure (a Sentry event)."""
    masked: dict[str, Any] = _mask(event)
    return masked


def mask_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in _SECRET_FIELDS:
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def _json(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=repr).decode()


def configure(level: str = "INFO", *, json_output: bool = True) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if json_output
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
