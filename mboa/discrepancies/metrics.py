"""Prometheus metrics of operator discrepancies (worker process)."""

from __future__ import annotations

from prometheus_client import Counter

OPERATOR_DISCREPANCIES = Counter(
    "mboa_operator_discrepancies_total",
    "Operator reports contradicting a final state (kind: failed_after_success,"
    " succeeded_after_failure, amount_mismatch), each counted once",
    ["provider", "kind"],
)
