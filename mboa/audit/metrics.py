"""Prometheus metrics of the audit chain's scheduled verification (worker process)."""

from __future__ import annotations

from prometheus_client import Gauge

CHAIN_OK = Gauge(
    "mboa_audit_chain_ok", "1 when the audit log's hash chain verified at the last run"
)
CHAIN_ROWS = Gauge("mboa_audit_chain_rows", "Rows of the audit log verified at the last run")
VERIFY_LAST_RUN = Gauge(
    "mboa_audit_verify_last_run_timestamp_seconds", "When `audit.verify` last ran to the end"
)
