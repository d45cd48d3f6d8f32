"""A real worker (outbox relay + BullMQ) whose adapters talk to the real simulators, which call
the real API back; the API's callback route confirms by status read, as in production."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from pydantic import SecretStr

from mboa.config import ApiSettings, PaymentsSettings, Settings
from mboa.postgres import Database
from mboa.providers.config import ProvidersSettings
from mboa.providers.registry import ProviderRegistry
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from mboa.worker.run import run_worker
from tests.ledger.conftest import ledger_db
from tests.providers.conftest import _fresh_state, mtn_settings, orange_settings, sims

__all__ = ["_fresh_state", "ledger_db", "sims"]

PAYMENTS = PaymentsSettings(
    status_check_after_seconds=0.3,
    status_check_max_interval_seconds=1.0,
    unknown_attempt_fail_after_seconds=1.0,
)


def worker_settings(
    settings: Settings, sims: RunningSimulators, base_url: str, redis_url: str
) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": SecretStr(redis_url),
            "api": ApiSettings(public_url=base_url),
            "providers": ProvidersSettings(
                mtn_momo=mtn_settings(sims), orange_money=orange_settings(sims)
            ),
            "payments": PAYMENTS,
        }
    )


@pytest_asyncio.fixture
async def worker(
    http: Any,
    settings: Settings,
    sims: RunningSimulators,
    base_url: str,
    database_url: str,
    redis_url: str,
) -> AsyncIterator[TaskContext]:
    """A running `mboa worker` (in this event loop); yields a context for calling tasks such as
    the janitor by hand, with the worker's settings."""
    configured = worker_settings(settings, sims, base_url, redis_url)
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(configured, database_url, redis_url, stop=stop))
    providers = ProviderRegistry(configured.providers)
    db = Database.connect(configured, database_url, process="test-janitor")
    try:
        yield TaskContext(configured, db, providers=providers)
    finally:
        sims.reset()  # no late callback of this test reaches the API during the next one
        stop.set()
        await running
        await providers.aclose()
        await db.dispose()
