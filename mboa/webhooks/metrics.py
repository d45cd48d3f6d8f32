"""Prometheus metrics of webhook deliveries (worker process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERY_ATTEMPTS = Counter(
    "mboa_webhook_delivery_attempts_total",
    "Webhook delivery attempts by outcome (succeeded, http_error, redirect, timeout,"
    " connection_error, refused)",
    ["outcome"],
)
DELIVERY_DURATION = Histogram(
    "mboa_webhook_delivery_duration_seconds",
    "One delivery attempt: resolution, connection, request and the start of the answer",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
