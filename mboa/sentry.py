"""Errors to Sentry, when `MBOA_SENTRY_DSN` is set, from every process (API, worker, scheduler,
simulator, the migration Job's `mboa db upgrade`: `mboa.cli`).

Nothing sensitive leaves: every event passes through the same masking as the logs
(`mboa.logging`: API keys and secrets cut to a hint, phone numbers starred, fields named like
secrets redacted), plus credentials in URLs and the headers that carry them; local variables
and request bodies are not sent at all. Tags: release (`MBOA_RELEASE`), environment
(`MBOA_DEPLOYMENT`), the process, and the request id (or the task) of the failure.
"""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
import structlog

from mboa.config import Settings
from mboa.logging import mask_event

log = structlog.get_logger("mboa.sentry")

_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s/]*@", re.I
)
# Free text (exception messages) naming a credential before its value, and bare JWTs (operators'
# access tokens): the logs' rules cover our own key formats, these cover the operators'.
_NAMED_SECRET = re.compile(
    r"(?P<name>\b(?:token|secret|password|passwd|api[_-]?key|bearer|authorization)\b[\s:=\"']+)"
    r"(?P<value>[^\s\"',;)]{6,})",
    re.I,
)
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}")
_SENSITIVE_HEADERS = {
    "authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "idempotency-key",
    "x-callback-url",
    "proxy-authorization",
}

_enabled = False


def enabled() -> bool:
    return _enabled


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        value = _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:[redacted]@", value)
        value = _NAMED_SECRET.sub(r"\g<name>[redacted]", value)
        return _JWT.sub("[redacted-jwt]", value)
    if isinstance(value, dict):
        return {
            k: "[redacted]" if str(k).lower() in _SENSITIVE_HEADERS else _scrub_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub_value(v) for v in value]
    return value


def scrub(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """`before_send`: the logs' masking, then URL credentials and sensitive headers."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)  # bodies: phone numbers, names, metadata
        request.pop("cookies", None)
    masked = mask_event(event)
    scrubbed: dict[str, Any] = _scrub_value(masked)
    return scrubbed


def init(settings: Settings, *, process: str) -> bool:
    """Start the SDK for this process; False (and nothing sent, ever) without a DSN."""
    global _enabled
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        release=settings.release,
        environment=settings.deployment,
        include_local_variables=False,  # no PII by default (the SDK's default too)
        max_request_body_size="never",
        before_send=scrub,  # type: ignore[arg-type]
        before_send_transaction=scrub,  # type: ignore[arg-type]
        traces_sample_rate=0.0,
    )
    sentry_sdk.set_tag("process", process)
    _enabled = True
    log.info("sentry_enabled", process=process, environment=settings.deployment)
    return True


def tag_request(request_id: str) -> None:
    if _enabled:
        sentry_sdk.set_tag("request_id", request_id)


def report_exception(exc: BaseException, **tags: str) -> None:
    """Send one exception that our own handlers caught (a 500, a failed task)."""
    if not _enabled:
        return
    with sentry_sdk.new_scope() as scope:
        for key, value in tags.items():
            scope.set_tag(key, value)
        sentry_sdk.capture_exception(exc)


def flush(timeout: float = 5.0) -> None:
    if _enabled:
        sentry_sdk.flush(timeout)
