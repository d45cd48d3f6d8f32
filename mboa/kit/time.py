from __future__ import annotations

import datetime as dt

MAX_UNIX_TIME = 253_402_300_799
"""9999-12-31T23:59:59Z: the last second both Python's datetime and PostgreSQL represent. Unix
times from clients are bounded by it (a larger one is a 400, not an overflow)."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def to_unix(value: dt.datetime) -> int:
    """Stripe-style `created` timestamps: whole seconds since the epoch."""
    return int(value.timestamp())


def from_unix(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC)
