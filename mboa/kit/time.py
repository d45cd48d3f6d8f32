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


def next_status_check(first_seconds: float, max_seconds: float, checks: int) -> dt.datetime:
    """When to read an operator's status again after `checks` reads left it unfinished: the
    interval doubles from `first_seconds` and stops growing at `max_seconds`. One rule for the
    payments, refunds and payouts that wait on an operator."""
    delay = min(first_seconds * 2 ** min(checks + 1, 20), max_seconds)
    return utc_now() + dt.timedelta(seconds=delay)
