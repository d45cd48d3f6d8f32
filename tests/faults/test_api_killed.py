"""Issue 13 point 6 for the API process: a real `mboa api` SIGKILLs itself at a crash point
(`MBOA_FAULTS__CRASH_AT`, docs/payments.md "Crash points") in the middle of a request; the
client (a merchant's integration, an operator) sees the connection drop; a healthy API and
worker take over and every payment is counted exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mboa.config import Settings
from mboa.kit.net import free_port
from mboa.payments.service import payment_intent as payment_intent_service
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from tests.faults.conftest import Workers, assert_matches_simulators, worker_env
from tests.helpers import Api, bearer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ledger_db")]

PAYER = "+237671234521"
"""An ordinary number: approves by itself, calls back once."""


class ApiProcesses:
    """Starts `python -m mboa api` processes on free ports; stops whatever is left."""

    def __init__(self, make_env: Callable[..., dict[str, str]], logs: Path) -> None:
        self.make_env = make_env
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, crash_at: str | None, port: int) -> subprocess.Popen[bytes]:
        env = self.make_env(crash_at=crash_at) | {
            "MBOA_PORT": str(port),
            "MBOA_METRICS__ENABLED": "false",
        }
        with open(self.logs / f"api-{len(self.started)}.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "mboa", "api"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    @contextlib.asynccontextmanager
    async def running(
        self, crash_at: str | None = None
    ) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
        port = free_port()
        process = self.start(crash_at, port)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=5) as client, asyncio.timeout(60):
            while True:
                assert process.poll() is None, self.log(len(self.started) - 1)
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
        yield process, url

    def log(self, n: int) -> str:
        return (self.logs / f"api-{n}.log").read_text(errors="replace")

    async def killed(self, process: subprocess.Popen[bytes]) -> None:
        code = await asyncio.to_thread(process.wait, 30)
        assert code == -signal.SIGKILL, f"api exited with {code}"

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def apis(
    database_url: str,
    redis_url: str,
    base_url: str,
    sims: RunningSimulators,
    tmp_path: Path,
) -> Iterator[ApiProcesses]:
    def make_env(**kwargs: Any) -> dict[str, str]:
        return worker_env(
            database_url=database_url,
            redis_url=redis_url,
            base_url=base_url,
            sims=sims,
            **kwargs,
        )

    running = ApiProcesses(make_env, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


async def _count(owner: asyncpg.Connection, sql: str) -> int:
    return int(await owner.fetchval(sql))


async def test_an_api_killed_before_its_commit_creates_the_intent_once_on_retry(
    api: Api,
    apis: ApiProcesses,
    workers: Workers,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
) -> None:
    account = await api.signup()
    tables = ("payment_intents", "payment_attempts", "outbox", "events", "idempotency_keys")

    async def counts() -> dict[str, int]:
        return {t: await _count(owner_connection, f"SELECT count(*) FROM {t}") for t in tables}

    before = await counts()
    body = {"amount": 2500, "currency": "XAF", "phone": PAYER, "reference": "order-1"}
    auth = bearer(account.secret_key)
    headers = {**auth, "Idempotency-Key": "create-order-1"}
    async with apis.running(crash_at="api_before_commit") as (doomed, url):
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            # The integration sees the connection drop: it does not know whether it was created.
            with pytest.raises(httpx.TransportError):
                await client.post("/v1/payment_intents", json=body, headers=headers)
        await apis.killed(doomed)
    # Everything was written in the one transaction that never committed.
    assert await counts() == before

    workers.start()
    async with apis.running() as (_, url), httpx.AsyncClient(base_url=url, timeout=10) as client:
        # The integration retries with the same key (twice: the second is a replay).
        first = await client.post("/v1/payment_intents", json=body, headers=headers)
        assert first.status_code == 200, first.text
        again = await client.post("/v1/payment_intents", json=body, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == first.json()["id"]
        intent_id = first.json()["id"]
        async with asyncio.timeout(30):
            while True:
                read = await client.get(f"/v1/payment_intents/{intent_id}", headers=auth)
                if read.json()["status"] == "succeeded":
                    break
                await asyncio.sleep(0.2)
    assert await _count(owner_connection, "SELECT count(*) FROM payment_intents") == 1
    assert await _count(owner_connection, "SELECT count(*) FROM payment_attempts") == 1
    initiate_jobs = "SELECT count(*) FROM outbox WHERE task = 'payments.initiate'"
    assert await _count(owner_connection, initiate_jobs) == 1
    assert len(sims.mtn.transactions) == 1
    assert read.json()["amount_received"] == 2500
    await assert_matches_simulators(owner_connection, sims, db, settings)


async def test_an_api_killed_in_the_callback_route_loses_nothing(
    api: Api,
    apis: ApiProcesses,
    workers: Workers,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
) -> None:
    """The operator's callback reaches an API that dies after storing it, before its commit and
    its answer: MTN never sends a callback twice, so the janitor's status read settles it, once."""
    account = await api.signup()
    key = account.secret_key
    async with apis.running(crash_at="api_in_callback") as (doomed, doomed_url):
        # The worker builds callback URLs from the public URL: the doomed API's.
        workers.start(base_url=doomed_url)
        response = await api.http.post(
            "/v1/payment_intents",
            json={"amount": 2600, "currency": "XAF", "phone": PAYER},
            headers={**bearer(key), "Idempotency-Key": "create-1"},
        )
        assert response.status_code == 200, response.text
        intent_id = response.json()["id"]
        await apis.killed(doomed)
    async with asyncio.timeout(10):
        while not sims.mtn.callbacks:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    # Delivered once, to a process that died before answering; MTN does not send it again.
    assert [c.error is not None for c in sims.mtn.callbacks] == [True]
    assert await _count(owner_connection, "SELECT count(*) FROM provider_events") == 0
    status = await owner_connection.fetchval("SELECT status FROM payment_attempts")
    assert status == "pending"

    async with asyncio.timeout(30):
        while True:
            await payment_intent_service.janitor(db, settings.payments)
            status = await owner_connection.fetchval(
                "SELECT status FROM payment_intents WHERE id = $1", intent_id
            )
            if status == "succeeded":
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(1)  # any second application would have run by now
    assert await _count(owner_connection, "SELECT count(*) FROM provider_events") == 0
    await assert_matches_simulators(owner_connection, sims, db, settings)
