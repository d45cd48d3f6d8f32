"""The operators' simulators (shared with tests/providers/) and a real worker pointed at them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from mboa.config import PayoutsSettings, Settings
from mboa.providers.config import ProvidersSettings
from mboa.simulator.run import RunningSimulators
from mboa.worker.run import run_worker
from tests.helpers import Api
from tests.providers.conftest import _fresh_state, mtn_settings, orange_settings, sims

__all__ = ["_fresh_state", "sims", "worker", "worker_settings"]


@pytest.fixture
def worker_settings(
    settings: Settings, sims: RunningSimulators, base_url: str, redis_url: str
) -> Settings:
    """A worker's settings: adapters on the simulators, callbacks to the test API, and status
    reads of transfers in transit after a fraction of a second."""
    return settings.model_copy(
        update={
            "redis_url": SecretStr(redis_url),
            "providers": ProvidersSettings(
                mtn_momo=mtn_settings(sims), orange_money=orange_settings(sims)
            ),
            "api": settings.api.model_copy(update={"public_url": base_url}),
            "payouts": PayoutsSettings(
                status_check_after_seconds=0.2, status_check_max_interval_seconds=0.5
            ),
        }
    )


@pytest.fixture
async def worker(
    api: Api, worker_settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[Settings]:
    """`mboa worker` (BullMQ workers + outbox relay) in this event loop, after the clean-up."""
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(worker_settings, database_url, redis_url, stop=stop))
    try:
        yield worker_settings
    finally:
        stop.set()
        await running
