"""Prometheus metrics of the ledger's scheduled verification (worker process)."""

from __future__ import annotations

from prometheus_client import Gauge

VERIFY_VIOLATIONS = Gauge(
    "mboa_ledger_verify_violations",
    "Violations the last `ledger.verify` run found, per invariant (0: it holds)",
    ["check"],
)
VERIFY_LAST_RUN = Gauge(
    "mboa_ledger_verify_last_run_timestamp_seconds",
    "When `ledger.verify` last ran to the end",
)
VERIFY_OK = Gauge("mboa_ledger_verify_ok", "1 when every invariant held at the last run, else 0")
