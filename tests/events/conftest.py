"""A real worker pointed at the real simulators, with short status-check intervals for payments,
refunds and payouts: what `mboa trigger` needs behind the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from mboa.config import PayoutsSettings, Settings
from mboa.simulator.run import RunningSimulators
from mboa.worker.run import run_worker
from tests.ledger.conftest import ledger_db
from tests.payments.conftest import worker_settings
from tests.providers.conftest import _fresh_state, sims
from tests.refunds.conftest import REFUNDS

__all__ = ["_fresh_state", "ledger_db", "sims"]


@pytest_asyncio.fixture
async def worker(
    http: Any,
    settings: Settings,
    sims: RunningSimulators,
    base_url: str,
    database_url: str,
    redis_url: str,
) -> AsyncIterator[Settings]:
    configured = worker_settings(settings, sims, base_url, redis_url).model_copy(
        update={
            "refunds": REFUNDS,
            "payouts": PayoutsSettings(
                status_check_after_seconds=0.3, status_check_max_interval_seconds=1.0
            ),
        }
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(configured, database_url, redis_url, stop=stop))
    try:
        yield configured
    finally:
        sims.reset()
        stop.set()
        await running
