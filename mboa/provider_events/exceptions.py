"""Errors of the callback domain (internal: none reaches an HTTP answer)."""

from __future__ import annotations


class RetryLater(Exception):
    """The status read failed for a reason that may pass (outage, timeout, open breaker)."""
