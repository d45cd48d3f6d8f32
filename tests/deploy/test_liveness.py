"""Liveness of the processes without an HTTP API (mboa/heartbeat.py): their event loop's
heartbeat, which the worker's and the scheduler's `/healthz` answer from their own thread."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx

from mboa.heartbeat import LoopHeartbeat
from mboa.kit.net import free_port
from tests.deploy.platform import make_platform, running, wait_for


def test_a_heartbeat_older_than_the_limit_is_not_alive() -> None:
    now = [100.0]
    heartbeat = LoopHeartbeat(stuck_after=30, clock=lambda: now[0])
    assert heartbeat.alive()  # just started
    now[0] += 29.9
    assert heartbeat.alive()
    now[0] += 0.2
    assert not heartbeat.alive()
    heartbeat.beat()
    assert heartbeat.alive()


async def test_a_blocked_event_loop_stops_the_heartbeat_and_a_free_one_restarts_it() -> None:
    heartbeat = LoopHeartbeat(stuck_after=0.3)
    async with heartbeat.running(every=0.02):
        await asyncio.sleep(0.1)
        assert heartbeat.alive()
        time.sleep(0.5)  # noqa: ASYNC251 (the point: a synchronous call blocks the loop)
        assert not heartbeat.alive()
        await asyncio.sleep(0.1)
        assert heartbeat.alive()
    await asyncio.sleep(0.4)  # the block has ended: nothing beats any more
    assert not heartbeat.alive()


async def test_the_scheduler_process_answers_its_probes(tmp_path: Path, redis_url: str) -> None:
    platform = await asyncio.to_thread(make_platform, tmp_path, "liveness", redis_url)
    port = free_port()
    with running(platform):
        scheduler = platform.start("scheduler", MBOA_METRICS__SCHEDULER_PORT=str(port))
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_for, f"{base}/readyz", scheduler)  # schedules registered
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
        os.killpg(scheduler.pid, signal.SIGTERM)
        assert await asyncio.to_thread(scheduler.wait, 30) == 0
