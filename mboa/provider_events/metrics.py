"""Prometheus metrics of the callback domain (API process)."""

from __future__ import annotations

from prometheus_client import Counter

CALLBACKS_REFUSED = Counter(
    "mboa_provider_callbacks_refused_total",
    "Operator callbacks refused before being stored, by provider and reason"
    " (address_rate, provider_rate, provider_bytes)",
    ["provider", "reason"],
)
