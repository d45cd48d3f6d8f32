"""Rolling restarts (docs/deploy.md §7): two real `mboa api` processes under
constant load, each restarted in turn with SIGTERM, and not one request fails.

The load balancer is the test's: round robin over the backends that its health checker last
found ready (`GET /readyz` every 100 ms, as a Kubernetes readiness probe or an ALB health check
does), with no retry of a failed request: a request that fails is counted as failed.

At each SIGTERM a few requests are in flight that outlast the drain: their bodies arrive slowly
(a client on a poor mobile link), so the process stops accepting while they are still being
served, and they must complete."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mboa.kit.net import free_port
from tests.deploy.platform import make_platform, running, signup, wait_for

pytestmark = pytest.mark.slow

CLIENTS = 8
DRAIN_SECONDS = 1.0
PROBE_SECONDS = 0.1
SLOW_REQUESTS = 3
SLOW_UPLOAD_SECONDS = 2.5
"""Longer than the drain: these requests are in flight when the process stops accepting."""


class Balancer:
    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.ready: set[str] = set()
        self.clients = {url: httpx.AsyncClient(base_url=url, timeout=30) for url in urls}
        self.turn = itertools.count()
        self.served: dict[str, int] = dict.fromkeys(urls, 0)
        self.failures: list[str] = []
        self.ok = 0

    async def probe(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=0.5) as prober:
            while not stop.is_set():
                for url in self.urls:
                    try:
                        healthy = (await prober.get(f"{url}/readyz")).status_code == 200
                    except httpx.HTTPError:
                        healthy = False
                    (self.ready.add if healthy else self.ready.discard)(url)
                await asyncio.sleep(PROBE_SECONDS)

    async def until_ready(self, urls: list[str]) -> None:
        async with asyncio.timeout(60):
            while not set(urls) <= self.ready:  # noqa: ASYNC110 (the prober updates the set)
                await asyncio.sleep(0.05)

    async def request(self, method: str, path: str, **kwargs: object) -> None:
        ready = sorted(self.ready)
        if not ready:
            self.failures.append("no backend ready")
            return
        url = ready[next(self.turn) % len(ready)]
        try:
            response = await self.clients[url].request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.failures.append(f"{url} {method} {path}: {type(exc).__name__}: {exc}")
            return
        if response.status_code >= 500 or response.status_code not in (200, 201):
            self.failures.append(f"{url} {method} {path}: {response.status_code} {response.text}")
            return
        self.served[url] += 1
        self.ok += 1

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


async def load(balancer: Balancer, key: str, stop: asyncio.Event, client: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    for n in itertools.count():
        if stop.is_set():
            return
        if n % 4 == 0:  # a write: one transaction, an idempotency key
            await balancer.request(
                "POST",
                "/v1/customers",
                json={"name": f"Client {client}-{n}"},
                headers={**headers, "Idempotency-Key": f"rr-{client}-{n}-{time.time_ns()}"},
            )
        else:
            await balancer.request("GET", "/v1/customers?limit=3", headers=headers)


async def slow_upload(url: str, key: str, sent_headers: asyncio.Event) -> tuple[int, float]:
    """A customer created by a client whose body takes `SLOW_UPLOAD_SECONDS` to arrive: the
    server has the request (its headers) at once and answers once the body is complete. Returns
    the status and when the response came (monotonic)."""
    body = json.dumps({"name": "Slow upload"}).encode()

    async def trickle() -> AsyncIterator[bytes]:
        yield body[:1]
        sent_headers.set()  # httpx asks for the next chunk once the first one is written
        await asyncio.sleep(SLOW_UPLOAD_SECONDS)
        yield body[1:]

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post(
            "/v1/customers",
            content=trickle(),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                "Idempotency-Key": f"rr-slow-{time.time_ns()}",
            },
        )
    return response.status_code, time.monotonic()


async def test_two_apis_restarted_one_after_the_other_fail_no_request(
    tmp_path: Path, redis_url: str
) -> None:
    platform = await asyncio.to_thread(
        make_platform,
        tmp_path,
        "rolling",
        redis_url,
        MBOA_API__DRAIN_SECONDS=str(DRAIN_SECONDS),
        MBOA_API__GRACEFUL_SHUTDOWN_SECONDS="10",
        MBOA_METRICS__ENABLED="false",
        MBOA_RATE_LIMIT__TEST_PER_SECOND="100000",
    )
    ports = [platform.api_port, free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    with running(platform):
        apis = [platform.start("api", MBOA_PORT=str(port)) for port in ports]
        for url, api in zip(urls, apis, strict=True):
            await asyncio.to_thread(wait_for, f"{url}/readyz", api)
        key = await asyncio.to_thread(signup, urls[0])
        balancer = Balancer(urls)
        stop_probe, stop_load = asyncio.Event(), asyncio.Event()
        prober = asyncio.create_task(balancer.probe(stop_probe))
        await balancer.until_ready(urls)
        clients = [asyncio.create_task(load(balancer, key, stop_load, n)) for n in range(CLIENTS)]
        slow_served = 0
        try:
            await asyncio.sleep(2)
            for index, (port, url) in enumerate(zip(ports, urls, strict=True)):
                before = balancer.served[url]
                old = apis[index]
                sent = [asyncio.Event() for _ in range(SLOW_REQUESTS)]
                slow = [asyncio.create_task(slow_upload(url, key, event)) for event in sent]
                for event in sent:
                    await asyncio.wait_for(event.wait(), 10)
                signalled_at = time.monotonic()
                os.killpg(old.pid, signal.SIGTERM)  # Kubernetes deletes the pod
                code = await asyncio.to_thread(old.wait, 60)
                # uvicorn re-raises the signal it handled once it has shut down cleanly.
                assert code in (0, -signal.SIGTERM), code
                for status, answered_at in await asyncio.gather(*slow):
                    assert status in (200, 201), status
                    # Still in flight when the drain ended and the process stopped accepting.
                    assert answered_at > signalled_at + DRAIN_SECONDS
                slow_served += len(slow)
                apis[index] = platform.start("api", MBOA_PORT=str(port))
                await asyncio.to_thread(wait_for, f"{url}/readyz", apis[index])
                await balancer.until_ready([url])
                await asyncio.sleep(1.5)
                assert balancer.served[url] > before, "the new process serves"
            await asyncio.sleep(1)
        finally:
            stop_load.set()
            await asyncio.gather(*clients)
            stop_probe.set()
            await prober
            await balancer.close()
    print(
        f"rolling restart: {balancer.ok} requests, {len(balancer.failures)} failed;"
        f" {slow_served} slow requests in flight at SIGTERM, all served"
    )
    assert balancer.failures == []
    assert slow_served == 2 * SLOW_REQUESTS
    assert balancer.ok > 200, balancer.ok
    logs = await asyncio.to_thread(
        lambda: [p.read_text(errors="replace") for p in tmp_path.glob("api-*.log")]
    )
    assert len(logs) == 4
    assert not [log for log in logs if "graceful shutdown exceeded" in log]
    # Every process was stopped by SIGTERM (two restarts, then the two new ones at the end).
    assert sum('"draining"' in log for log in logs) == 4
