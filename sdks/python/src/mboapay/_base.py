"""What the synchronous and the asynchronous clients share: defaults, headers, when to retry
and how long to wait."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from ._version import VERSION

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A server asking for longer than this is not waited for: the error is raised instead.
MAX_RETRY_AFTER = 60.0


def headers(api_key: str) -> dict[str, str]:
    if not api_key:
        raise ValueError("an API key is required (sk_test_… or sk_live_…)")
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": f"mboapay-python/{VERSION}",
    }


def new_idempotency_key() -> str:
    """One per logical call: its retries reuse it, so the API runs the call at most once
    (docs/api-conventions.md §D4)."""
    return str(uuid.uuid4())


def clean(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters that were given (None means "not sent")."""
    return {k: v for k, v in (params or {}).items() if v is not None}


def query(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters as the API reads them: booleans in lower case, `created={"gte": t}`
    spelt `created[gte]=t`, lists repeated (`types[]=a&types[]=b`)."""
    out: dict[str, Any] = {}
    for key, value in clean(params).items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, Mapping):
            for op, bound in value.items():
                out[f"{key}[{op}]"] = bound
        elif isinstance(value, (list, tuple)):
            out[f"{key}[]"] = list(value)
        else:
            out[key] = value
    return out


def retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date), if the answer has one."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


def should_retry(response: httpx.Response) -> bool:
    """Answers worth another try with the same Idempotency-Key: a concurrent request with that
    key still running (409 `idempotency_key_in_use`), the rate limit (429), a server failure."""
    status = response.status_code
    if status == 409:
        try:
            body = response.json()
        except ValueError:
            return False
        error = body.get("error") if isinstance(body, dict) else None
        return isinstance(error, dict) and error.get("code") == "idempotency_key_in_use"
    return status == 429 or status >= 500


def retry_delay(retries_done: int, response: httpx.Response | None) -> float | None:
    """Seconds before the next try: the server's `Retry-After` when it gives one, else
    exponential backoff with jitter. None when the server asks for too long a wait."""
    if response is not None:
        asked = retry_after(response)
        if asked is not None:
            return asked if asked <= MAX_RETRY_AFTER else None
    delay = min(INITIAL_RETRY_DELAY * 2.0**retries_done, MAX_RETRY_DELAY)
    # Jitter spreads the retries of many clients hit by one outage.
    return delay * (0.75 + random.random() * 0.25)


# The asynchronous code sleeps with `async_sleep`; unasync writes `sync_sleep` in the
# synchronous copy (scripts/sdk_models.py).
async_sleep = asyncio.sleep
sync_sleep = time.sleep
