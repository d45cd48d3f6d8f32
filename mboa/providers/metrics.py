"""Prometheus metrics per operator call, on prometheus_client's default registry."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

CALL_DURATION: Final = Histogram(
    "mboa_provider_call_duration_seconds",
    "Latency of one HTTP call to a mobile-money operator.",
    ("provider", "product", "operation"),
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0),
)
CALLS: Final = Counter(
    "mboa_provider_calls",
    "Operator calls by outcome (ok, rejected, not_found, unavailable, timeout, circuit_open, "
    "config_error, auth_error, internal_error, invalid).",
    ("provider", "product", "operation", "outcome"),
)
BREAKER_STATE: Final = Gauge(
    "mboa_provider_breaker_state",
    "Circuit breaker state per operator product: 0 closed, 1 half-open, 2 open.",
    ("provider", "product"),
)
BREAKER_STATE_VALUES: Final[dict[str, int]] = {"closed": 0, "half-opened": 1, "opened": 2}
