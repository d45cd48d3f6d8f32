"""Prometheus metrics of the worker: jobs per queue, queue depth, the outbox."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter(
    "mboa_jobs_total",
    "Jobs run, by queue, task and outcome (completed, failed, deferred)",
    ["queue", "task", "outcome"],
)
JOB_DURATION = Histogram(
    "mboa_job_duration_seconds",
    "Time a job's handler ran, by queue",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOB_WAIT = Histogram(
    "mboa_job_wait_seconds",
    "From a job's due time (enqueue plus any delay) to a worker starting it, by queue",
    ["queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
QUEUE_JOBS = Gauge(
    "mboa_queue_jobs",
    "BullMQ jobs per queue and state (waiting, active, delayed, failed), sampled by the worker",
    ["queue", "state"],
)
QUEUE_WAITING = Gauge(
    "mboa_queue_waiting_jobs",
    "Jobs waiting to start, per queue (the worker HPA's external metric, summed)",
    ["queue"],
)
OUTBOX_PENDING = Gauge("mboa_outbox_pending", "Outbox rows committed and not yet relayed to BullMQ")
OUTBOX_LAG = Gauge(
    "mboa_outbox_lag_seconds", "Age of the oldest outbox row not yet relayed (0 when none)"
)
OUTBOX_RELAYED = Counter("mboa_outbox_relayed_total", "Outbox rows relayed to BullMQ")
WORKER_HEARTBEAT = Gauge(
    "mboa_worker_heartbeat_timestamp_seconds",
    "When the worker's sampler last reached PostgreSQL and Redis (its readiness)",
)
