"""A whole stack for the payment pages: the real API on a real socket (its public URL known in
advance, so links, QR codes and Orange WebPay's return point at it), a real worker, and the
simulators, all with settings that agree. Shared by the package's tests (one per run)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from pydantic import SecretStr

from mboa import error_codes
from mboa.app import build_state, close_state, create_app, start_state
from mboa.config import ApiSettings, PaymentsSettings, Settings
from mboa.error_codes import serve_docs_at
from mboa.http_security import SERVER_OPTIONS
from mboa.kit.net import free_port
from mboa.providers.config import ProvidersSettings
from mboa.simulator.config import SimulatorSettings
from mboa.simulator.run import RunningSimulators, running_simulators
from mboa.state import AppState
from mboa.worker.run import run_worker
from tests.helpers import Api, bearer
from tests.ledger.conftest import ledger_db
from tests.providers.conftest import mtn_settings, orange_settings

__all__ = ["ledger_db"]

SIMULATORS = SimulatorSettings(
    auto_approve_seconds=0.3,
    # Long enough for a browser to fill Orange's WebPay page.
    approval_window_seconds=60,
    callback_timeout_seconds=2.0,
)


@dataclasses.dataclass
class Stack:
    url: str
    state: AppState
    sims: RunningSimulators
    settings: Settings


@contextlib.asynccontextmanager
async def serve_on(state: AppState, port: int) -> AsyncIterator[None]:
    # create_app() sets the process-wide base of errors' doc_url: put back the session API's
    # for the test files that run after this package in the same process.
    previous_docs_base = error_codes._docs_base
    config = uvicorn.Config(
        create_app(state),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        **SERVER_OPTIONS,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task
        error_codes.serve_docs_at(previous_docs_base)


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def stack(settings: Settings, database_url: str, redis_url: str) -> AsyncIterator[Stack]:
    async with running_simulators(SIMULATORS) as sims:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        orange = orange_settings(sims)
        webpay = orange.webpay.model_copy(
            update={"return_url": f"{url}/checkout/return", "cancel_url": f"{url}/checkout/cancel"}
        )
        configured = settings.model_copy(
            update={
                "redis_url": SecretStr(redis_url),
                "api": ApiSettings(port=port, public_url=url),
                "providers": ProvidersSettings(
                    mtn_momo=mtn_settings(sims),
                    orange_money=orange.model_copy(update={"webpay": webpay}),
                ),
                "payments": PaymentsSettings(
                    status_check_after_seconds=0.5,
                    status_check_max_interval_seconds=1.0,
                ),
            }
        )
        state = build_state(configured, database_url, redis_url, process="test-checkout")
        start_state(state)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(configured, database_url, redis_url, stop=stop))
        try:
            async with serve_on(state, port):
                yield Stack(url, state, sims, configured)
        finally:
            stop.set()
            await worker
            await close_state(state)
            # create_app() made this stack's URL the process-wide base of every error's doc_url;
            # give it back to the session's API for the test files that run after this package.
            serve_docs_at(settings.base_url)


@pytest_asyncio.fixture(loop_scope="session")
async def client(stack: Stack, ledger_db: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the stack's API, on clean tables and a reset sandbox."""
    stack.sims.reset()
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        yield http


@pytest.fixture
def shop(client: httpx.AsyncClient, stack: Stack) -> Api:
    return Api(client, stack.state)


async def create_session(http: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    response = await http.post(
        "/v1/checkout/sessions",
        json={
            "amount": 12500,
            "currency": "XAF",
            "success_url": "https://shop.example.cm/merci",
            **body,
        },
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
