from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from mboa.simulator.config import SimulatorSettings
from mboa.simulator.run import RunningSimulators, running_simulators

SETTINGS = SimulatorSettings(
    auto_approve_seconds=0.05,
    approval_window_seconds=0.5,
    delayed_success_seconds=0.2,
    late_success_seconds=0.6,
    slow_response_seconds=0.5,
    seed=11,
)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def simulators() -> AsyncIterator[RunningSimulators]:
    async with running_simulators(SETTINGS) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    if "simulators" in request.fixturenames:
        request.getfixturevalue("simulators").reset()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client
