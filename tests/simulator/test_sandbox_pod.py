"""`mboa simulator --host 0.0.0.0`: the Helm chart's sandbox pod listens on its pod's addresses
(the API and workers reach it through a Service; docs/deploy.md §2), and nothing else widens
the simulators' loopback-only rule."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
import pytest

from mboa.config import get_settings
from mboa.simulator.config import SimulatorSettings
from mboa.simulator.run import running_simulators, serve, serve_asgi


async def test_the_sandbox_pod_listens_on_every_address(http: httpx.AsyncClient) -> None:
    async with running_simulators(SimulatorSettings(), host="0.0.0.0", sandbox_pod=True) as sims:
        for url in (sims.mtn_url, sims.orange_url):
            bound = urlsplit(url)
            assert bound.hostname == "0.0.0.0"
            answer = await http.post(f"http://127.0.0.1:{bound.port}/collection/token/")
            assert answer.status_code in {401, 404}


async def test_mboa_simulator_host_0000_starts_outside_production() -> None:
    task = asyncio.create_task(serve("0.0.0.0", 0, 0, settings=SimulatorSettings(seed=1)))
    await asyncio.sleep(0.2)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_production_refuses_the_wildcard(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MBOA_ENV": "production",
        "MBOA_DATABASE_URL": "postgresql://mboa@db.invalid/mboa",
        "MBOA_REDIS_URL": "redis://redis.invalid:6379/0",
        "MBOA_AUTH__JWT_SECRET": "x" * 48,
        "MBOA_WEBHOOKS__ENCRYPTION_KEY": "ZGV2LW9ubHkta2V5LW5vdC1mb3ItcHJvZHVjdGlvbjE=",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValueError, match="production"):
            await serve("0.0.0.0", 0, 0, settings=SimulatorSettings())
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_only_the_sandbox_pod_and_only_the_wildcard() -> None:
    with pytest.raises(ValueError, match="loopback"):
        async with serve_asgi(object(), host="0.0.0.0"):
            pass
    with pytest.raises(ValueError, match="loopback"):
        async with serve_asgi(object(), host="10.1.2.3", sandbox_pod=True):
            pass
