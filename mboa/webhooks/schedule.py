"""When a failed delivery is tried again (docs/webhooks.md §Retries): exponential backoff with
full jitter, for at least `retry_for_seconds` (3 days) after the delivery was created.

After the n-th failure the window is `min(retry_max_interval, retry_base · 2^(n-1))` (30 s, 1 min,
2 min, … then 6 h) and the wait is drawn uniformly in [1 s, window]: retries of many deliveries
that failed together (an endpoint that was down) spread out instead of arriving as a wave. While
less than `retry_for_seconds` has passed since the delivery was created, every failure schedules
another attempt, so the last one falls between 3 days and 3 days + 6 h.
"""

from __future__ import annotations

import datetime as dt
import random

from mboa.config import WebhooksSettings

MIN_WAIT_SECONDS = 1.0


def retry_window(settings: WebhooksSettings, failures: int) -> float:
    """The longest wait (seconds) after the `failures`-th failure in a row."""
    growth = settings.retry_base_seconds * 2 ** min(max(failures - 1, 0), 40)
    return float(max(MIN_WAIT_SECONDS, min(settings.retry_max_interval_seconds, growth)))


def next_attempt(
    settings: WebhooksSettings,
    *,
    failures: int,
    created_at: dt.datetime,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> dt.datetime | None:
    """When to try again after the `failures`-th failed attempt; None: give up."""
    if (now - created_at).total_seconds() >= settings.retry_for_seconds:
        return None
    window = retry_window(settings, failures)
    wait = (rng or random).uniform(MIN_WAIT_SECONDS, window)
    return now + dt.timedelta(seconds=wait)
