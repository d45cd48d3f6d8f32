"""Prometheus metrics of the API process: requests by route and status, latency, DB pool.

Every process serves its metrics on a listener of its own (`serve_metrics`, `MBOA_METRICS__*`),
never on the public API port: a scrape target for Prometheus inside the cluster, nothing a
client on the internet can read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from mboa.postgres import ReadPool

HTTP_REQUESTS = Counter(
    "mboa_http_requests_total",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "mboa_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class PoolCollector(Collector):
    """Reads the SQLAlchemy pools' and the read path's counters at scrape time."""

    def __init__(self) -> None:
        self.engines: dict[str, AsyncEngine] = {}
        self.read_pools: dict[str, ReadPool] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("mboa_db_pool_size", "Configured pool size", labels=["pool"])
        checked_out = GaugeMetricFamily(
            "mboa_db_pool_checked_out", "Connections in use", labels=["pool"]
        )
        overflow = GaugeMetricFamily(
            "mboa_db_pool_overflow", "Overflow connections", labels=["pool"]
        )
        for name, engine in self.engines.items():
            pool = engine.sync_engine.pool
            if isinstance(pool, QueuePool):
                size.add_metric([name], pool.size())
                checked_out.add_metric([name], pool.checkedout())
                overflow.add_metric([name], max(pool.overflow(), 0))
        for name, read_pool in self.read_pools.items():
            size.add_metric([name], read_pool.size())
            checked_out.add_metric([name], read_pool.checked_out())
        yield size
        yield checked_out
        yield overflow


POOLS = PoolCollector()
REGISTRY.register(POOLS)


_log = structlog.get_logger("mboa.metrics")


class MetricsServer:
    """prometheus_client's threaded HTTP server: it answers even while the event loop is busy."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(host: str, port: int, *, process: str) -> MetricsServer | None:
    """Start this process's metrics listener; None (and a warning) when the port is taken, e.g.
    by another process of the same kind on this host: metrics never stop a process serving."""
    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as exc:
        _log.warning(
            "metrics_port_unavailable", process=process, host=host, port=port, error=str(exc)
        )
        return None
    _log.info(
        "metrics_listening", process=process, url=f"http://{host}:{server.server_port}/metrics"
    )
    return MetricsServer(server, thread)
