"""Prometheus metrics of the API process: requests by route and status, latency, DB pool; the
listener every process serves them on; `after_commit` for counts that must not include work a
rollback undid.

Every process serves its metrics on a listener of its own (`serve_metrics`, `MBOA_METRICS__*`),
never on the public API port: a scrape target for Prometheus inside the cluster, nothing a
client on the internet can read. The domains' series are in their own `metrics.py`
(payments, providers, provider_events, webhooks, worker, ledger, discrepancies); none has an id
in a label, so their number is bounded (docs/deploy.md §4).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
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

_ON_COMMIT = "mboa_metrics_on_commit"


def after_commit(session: AsyncSession, record: Callable[[], None]) -> None:
    """Run `record` (a metric update) once the session's transaction commits; a rollback drops
    it. Services flush and never commit, so this is how they count only what happened."""
    session.sync_session.info.setdefault(_ON_COMMIT, []).append(record)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    for record in session.info.pop(_ON_COMMIT, ()):
        record()


@event.listens_for(Session, "after_rollback")
def _drop_on_rollback(session: Session) -> None:
    session.info.pop(_ON_COMMIT, None)


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


Health = Callable[[], bool]
_Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _with_health(metrics: _Wsgi, live: Health, ready: Health) -> _Wsgi:
    """`/healthz` and `/readyz` beside `/metrics`: the probes of a process without an HTTP API
    (the worker). They answer from this thread, on what the process last recorded."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            ok = (live if path == "/healthz" else ready)()
            start_response(
                "200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")]
            )
            return [b"ok\n" if ok else b"unavailable\n"]
        return metrics(environ, start_response)

    return app


def serve_metrics(
    host: str,
    port: int,
    *,
    process: str,
    live: Health | None = None,
    ready: Health | None = None,
) -> MetricsServer | None:
    """Start this process's metrics listener; None (and a warning) when the port is taken, e.g.
    by another process of the same kind on this host: metrics never stop a process serving.
    With `live`/`ready`, it also answers `/healthz` and `/readyz`."""
    try:
        if live is not None and ready is not None:
            server, thread = _serve_wsgi(_with_health(make_wsgi_app(), live, ready), host, port)
        else:
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


def _serve_wsgi(app: _Wsgi, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """prometheus_client's own threaded server (as `start_http_server`), for another WSGI app."""
    from wsgiref.simple_server import make_server

    from prometheus_client.exposition import (
        ThreadingWSGIServer,
        _get_best_family,
        _SilentHandler,
    )

    class Server(ThreadingWSGIServer):
        pass

    Server.address_family, address = _get_best_family(host, port)  # type: ignore[no-untyped-call]
    server = make_server(address, port, app, Server, handler_class=_SilentHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
