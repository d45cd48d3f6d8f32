from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from mboa.app import build_state, close_state, create_app, start_state
from mboa.config import Settings
from mboa.http_security import SERVER_OPTIONS
from mboa.kit.net import free_port
from mboa.postgres import Database, database_name, plain_url
from mboa.state import AppState
from tests.helpers import Api
from tests.plugin import database_for, recreate, worker_index

TABLES = [
    # team and e-mail (issue 16)
    "invitations",
    "password_resets",
    # KYC and the staff console (issue 17)
    "merchant_risk_notes",
    "kyc_documents",
    "merchant_profiles",
    # audit log (issue 17 item 4): append-only, TRUNCATE refused by its trigger, so `clean` runs
    # the TRUNCATE as a replica (triggers off) and resets the chain's head
    "audit_log",
    # webhooks (issue 14)
    "notifications",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    # checkout (issue 15)
    "checkout_sessions",
    "payment_links",
    # payouts (issue 13 point 5)
    "disbursements",
    "payouts",
    # refunds (issue 13 point 4)
    "refunds",
    "event_sequences",
    "operator_discrepancies",
    "events",
    "payment_attempts",
    "payment_intents",
    "provider_events",
    "outbox",
    "idempotency_keys",
    "customers",
    "api_keys",
    # two-factor sign-in (issue 16)
    "user_recovery_codes",
    "user_session_spent_tokens",
    "user_sessions",
    "merchant_members",
    "merchants",
    "users",
    "ledger_settlement_queue",
    "ledger_open_pendings",
    "ledger_entries",
    "ledger_transactions",
    "ledger_accounts",
]


@pytest.fixture(scope="session")
def database_url(pytestconfig: pytest.Config) -> str:
    base = os.environ["MBOA_TEST_DATABASE_URL"]
    url = database_for(base, f"w{worker_index(pytestconfig)}")
    asyncio.run(recreate(url, template=database_name(database_for(base, "template"))))
    return url


@pytest.fixture(scope="session")
def redis_url(pytestconfig: pytest.Config) -> str:
    base = os.environ["MBOA_TEST_REDIS_URL"].rsplit("/", 1)[0]
    return f"{base}/{1 + worker_index(pytestconfig) % 15}"


def make_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
async def app_state(
    settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[AppState]:
    state = build_state(settings, database_url, redis_url, process="test")
    start_state(state)
    yield state
    await close_state(state)


@contextlib.asynccontextmanager
async def serve(state: AppState, *, app: FastAPI | None = None) -> AsyncIterator[str]:
    """The real API on a real socket (uvicorn in this event loop)."""
    port = free_port()
    config = uvicorn.Config(
        app or create_app(state),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        **SERVER_OPTIONS,  # as `mboa api` runs it
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def other_api(
    settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[tuple[AppState, httpx.AsyncClient]]:
    """A second API process (own settings, engines, caches) on its own socket, with a client."""
    state = build_state(settings, database_url, redis_url, process="test-other")
    start_state(state)
    try:
        async with serve(state) as url, httpx.AsyncClient(base_url=url) as client:
            yield state, client
    finally:
        await close_state(state)


@pytest.fixture(scope="session")
async def base_url(app_state: AppState) -> AsyncIterator[str]:
    async with serve(app_state) as url:
        yield url


@pytest.fixture(scope="session")
async def owner_connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The owner role (what migrations use): for test set-up that the app roles may not do."""
    connection = await asyncpg.connect(plain_url(database_url))
    yield connection
    await connection.close()


@pytest.fixture
async def clean(app_state: AppState, owner_connection: asyncpg.Connection) -> None:
    """Every test starts from empty tables and an empty Redis database.

    The previous test's background work (a live page's stream, a worker's job) may still hold
    a row lock when the TRUNCATE asks for its table locks: PostgreSQL then breaks the deadlock
    by aborting one side, and when that is the TRUNCATE it is simply run again."""
    for attempt in range(5):
        try:
            async with owner_connection.transaction():
                await owner_connection.execute(
                    "SET LOCAL session_replication_role = replica;"
                    f" TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE;"
                    f" UPDATE audit_chain_head SET seq = 0, hash = '{'0' * 64}'"
                )
            break
        except asyncpg.DeadlockDetectedError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)
    await app_state.redis.flushdb()


@pytest.fixture
async def http(base_url: str, clean: None) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient, app_state: AppState) -> Api:
    return Api(http, app_state)


@pytest.fixture
def db(app_state: AppState) -> Database:
    return app_state.db


@pytest.fixture
def redis(app_state: AppState) -> Redis:
    return app_state.redis
