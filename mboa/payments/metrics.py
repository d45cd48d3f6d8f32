"""Prometheus metrics of payments (worker and API processes), counted once their transaction
has committed (`mboa.metrics.after_commit`): a rolled-back attempt is not a payment."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ATTEMPTS_CREATED = Counter(
    "mboa_payment_attempts_created_total",
    "Payment attempts started (a prompt requested from an operator), by operator",
    ["provider"],
)
ATTEMPTS_FINISHED = Counter(
    "mboa_payment_attempts_finished_total",
    "Payment attempts that reached a final status, by operator, status and failure code",
    ["provider", "status", "failure_code"],
)
AMOUNT_SUCCEEDED = Counter(
    "mboa_payment_amount_succeeded_minor_total",
    "Money collected by succeeded attempts, in minor units of the currency",
    ["provider", "currency"],
)
ATTEMPT_DURATION = Histogram(
    "mboa_payment_attempt_duration_seconds",
    "From an attempt's creation to its final status (the payer's approval included)",
    ["provider", "status"],
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
CALLBACK_DELAY = Histogram(
    "mboa_provider_callback_delay_seconds",
    "From our request to the operator to its first callback for that attempt (operator → us)",
    ["provider"],
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
)
