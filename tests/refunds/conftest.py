"""A real worker whose adapters talk to the real simulators, which call the real API back: the
payments' fixture, with short status-check intervals for refunds too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from mboa.config import RefundsSettings, Settings
from mboa.postgres import Database
from mboa.providers.registry import ProviderRegistry
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from mboa.worker.run import run_worker
from tests.ledger.conftest import ledger_db
from tests.payments.conftest import worker_settings
from tests.providers.conftest import _fresh_state, sims

__all__ = ["_fresh_state", "ledger_db", "sims"]

REFUNDS = RefundsSettings(status_check_after_seconds=0.3, status_check_max_interval_seconds=1.0)


@pytest_asyncio.fixture
async def worker(
    http: Any,
    settings: Settings,
    sims: RunningSimulators,
    base_url: str,
    database_url: str,
    redis_url: str,
) -> AsyncIterator[TaskContext]:
    """A running `mboa worker` (in this event loop); yields a context for calling tasks by hand
    (the payments janitor, the refunds' status check) with the worker's settings."""
    configured = worker_settings(settings, sims, base_url, redis_url).model_copy(
        update={"refunds": REFUNDS}
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(configured, database_url, redis_url, stop=stop))
    providers = ProviderRegistry(configured.providers)
    db = Database.connect(configured, database_url, process="test-refunds")
    try:
        yield TaskContext(configured, db, providers=providers)
    finally:
        sims.reset()  # no late callback of this test reaches the API during the next one
        stop.set()
        await running
        await providers.aclose()
        await db.dispose()
