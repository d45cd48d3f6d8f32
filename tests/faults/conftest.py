"""Real `mboa worker` processes, SIGKILLed at the crash points of `mboa.kit.faults`, against the
real API and the real simulators; then a worker without the fault, and the truth is compared."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mboa.config import Settings
from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from tests.helpers import bearer
from tests.ledger.conftest import assert_verified, ledger_db
from tests.providers.conftest import _fresh_state, sims

__all__ = ["_fresh_state", "ledger_db", "sims"]

MTN_OK, MTN_OK_2, MTN_BROKE = "+237670000000", "+237670000010", "+237670000001"
ORANGE_OK = "+237690000000"
FINAL = {"succeeded", "requires_payment_method", "canceled"}


def worker_env(
    *,
    database_url: str,
    redis_url: str,
    base_url: str,
    sims: RunningSimulators,
    crash_at: str | None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env.update(
        MBOA_ENV="testing",
        MBOA_DATABASE_URL=database_url,
        MBOA_REDIS_URL=redis_url,
        MBOA_LOG__LEVEL="WARNING",
        MBOA_API__PUBLIC_URL=base_url,
        MBOA_PROVIDERS__MTN_MOMO__BASE_URL=sims.mtn_url,
        MBOA_PROVIDERS__ORANGE_MONEY__BASE_URL=sims.orange_url,
        MBOA_PROVIDERS__ORANGE_MONEY__WEBPAY__BASE_URL=sims.orange_url,
        MBOA_PROVIDERS__MTN_MOMO__RESILIENCE__TIMEOUT_SECONDS="2",
        MBOA_PROVIDERS__ORANGE_MONEY__RESILIENCE__TIMEOUT_SECONDS="2",
        MBOA_WORKER__OUTBOX_POLL_SECONDS="0.2",
        # A job held by a killed worker is taken up again within ~3 s (30-60 s by default).
        MBOA_WORKER__LOCK_DURATION_MS="2000",
        MBOA_WORKER__STALLED_INTERVAL_MS="1000",
        MBOA_PAYMENTS__STATUS_CHECK_AFTER_SECONDS="0.5",
        MBOA_PAYOUTS__STATUS_CHECK_AFTER_SECONDS="0.5",
    )
    if crash_at is not None:
        env["MBOA_FAULTS__CRASH_AT"] = crash_at
    env.update(extra or {})
    return env


class Workers:
    """Starts `python -m mboa worker` processes; stops whatever is left at the end."""

    def __init__(self, make_env: Callable[..., dict[str, str]], logs: Path) -> None:
        self.make_env = make_env
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, crash_at: str | None = None, **changes: Any) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"worker-{len(self.started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "mboa", "worker"],
            env=self.make_env(crash_at=crash_at, **changes),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append(process)
        return process

    async def killed(self, process: subprocess.Popen[bytes], within: float = 30.0) -> None:
        """Wait until the process has SIGKILLed itself at its crash point."""
        code = await asyncio.to_thread(process.wait, within)
        assert code == -signal.SIGKILL, f"worker exited with {code}"

    async def stop(self, process: subprocess.Popen[bytes]) -> None:
        """A clean shutdown (SIGTERM): its jobs finish, none is left locked."""
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 20)

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
def workers(
    database_url: str,
    redis_url: str,
    base_url: str,
    sims: RunningSimulators,
    tmp_path: Path,
) -> Iterator[Workers]:
    def make_env(**kwargs: Any) -> dict[str, str]:
        values = {
            "database_url": database_url,
            "redis_url": redis_url,
            "base_url": base_url,
            "sims": sims,
            **kwargs,
        }
        return worker_env(**values)

    running = Workers(make_env, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()
        sims.reset()  # no late callback reaches the API during the next test


async def create_intent(http: httpx.AsyncClient, key: str, phone: str, n: int) -> str:
    response = await http.post(
        "/v1/payment_intents",
        json={"amount": 1500 + n, "currency": "XAF", "phone": phone, "reference": f"order-{n}"},
        headers={**bearer(key), "Idempotency-Key": f"create-{n}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def all_final(owner: asyncpg.Connection, *, within: float = 40.0) -> list[asyncpg.Record]:
    """Every intent final (and every payout paid or failed), read from the database."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        intents = await owner.fetch("SELECT id, status FROM payment_intents ORDER BY id")
        payouts = await owner.fetch("SELECT id, status FROM payouts ORDER BY id")
        waiting = [r["id"] for r in intents if r["status"] not in FINAL] + [
            r["id"] for r in payouts if r["status"] not in {"paid", "failed", "canceled"}
        ]
        if not waiting:
            return list(intents)
        if loop.time() > deadline:
            raise AssertionError(f"not final after {within}s: {waiting}")
        await asyncio.sleep(0.1)


_SIM_STATE = {"succeeded": "succeeded", "failed": "failed"}


async def assert_matches_simulators(
    owner: asyncpg.Connection, sims: RunningSimulators, db: Database, settings: Settings
) -> None:
    """Each attempt and transfer is exactly one operator transaction (one reference), in the
    state the simulator holds; each success is on the ledger exactly once; `ledger verify`
    passes."""
    sim_txs = list(sims.mtn.transactions.values()) + list(sims.orange.transactions.values())
    by_external: dict[str, list[Any]] = {}
    for tx in sim_txs:
        by_external.setdefault(tx.external_id, []).append(tx)

    attempts = await owner.fetch(
        "SELECT a.id, a.status, a.operator_reference, a.payment_intent_id, i.status AS intent"
        " FROM payment_attempts a JOIN payment_intents i ON i.id = a.payment_intent_id"
    )
    assert attempts
    for a in attempts:
        txs = by_external.get(a["id"], [])
        assert len(txs) == 1, f"{a['id']}: {len(txs)} operator transactions"
        assert txs[0].id == a["operator_reference"]
        assert txs[0].state == a["status"], (a["id"], txs[0].state, a["status"])
        posted = await owner.fetchval(
            "SELECT count(*) FROM ledger_transactions WHERE idempotency_key = $1",
            f"payment_attempt:{a['id']}",
        )
        assert posted == (1 if a["status"] == "succeeded" else 0), (a["id"], posted)
        # One collection and one event (`.succeeded` or `.late_success`) per attempt whose
        # money arrived, whichever attempt of the intent it was.
        paid = await owner.fetchval(
            "SELECT count(*) FROM payment_attempts WHERE payment_intent_id = $1"
            " AND status = 'succeeded'",
            a["payment_intent_id"],
        )
        collections = await owner.fetchval(
            "SELECT count(*) FROM ledger_transactions WHERE source = $1", a["payment_intent_id"]
        )
        assert collections == paid, (a["payment_intent_id"], collections, paid)
        events = await owner.fetch(
            "SELECT type FROM events WHERE object_id = $1 AND type = ANY($2)",
            a["payment_intent_id"],
            ["payment_intent.succeeded", "payment_intent.late_success"],
        )
        assert len(events) == paid

    # Each disbursement (a payout's or a refund's): one operator transfer under our reference,
    # in the state we hold, its float posting only on success, and its source final alike.
    source_status = {
        "payouts": lambda status: "paid" if status == "succeeded" else "failed",
        "refunds": lambda status: status,
    }
    for table, expected in source_status.items():
        for d in await owner.fetch(
            "SELECT d.id, d.status, d.operator_reference, s.id AS source, s.status AS source_status"
            f" FROM disbursements d JOIN {table} s ON s.id = d.source_id"
        ):
            txs = by_external.get(d["id"], [])
            assert len(txs) == 1, f"{d['id']}: {len(txs)} operator transfers"
            assert txs[0].id == d["operator_reference"]
            assert txs[0].state == d["status"]
            floated = await owner.fetchval(
                "SELECT count(*) FROM ledger_transactions WHERE idempotency_key = $1",
                f"{d['source']}:float",
            )
            assert floated == (1 if d["status"] == "succeeded" else 0)
            assert d["source_status"] == expected(d["status"])
    await assert_verified(db, settings)


@pytest.fixture
def unrelayed(owner_connection: asyncpg.Connection) -> Callable[..., Any]:
    async def count() -> int:
        return int(
            await owner_connection.fetchval("SELECT count(*) FROM outbox WHERE relayed_at IS NULL")
        )

    return count
