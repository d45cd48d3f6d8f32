"""Real `mboa worker` processes, killed with SIGKILL: committed jobs wait in the outbox and run
when a worker comes back; nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import asyncpg
import pytest

from mboa.postgres import Database
from mboa.worker import enqueue

pytestmark = pytest.mark.slow


def _start_worker(database_url: str, redis_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env.update(
        MBOA_DATABASE_URL=database_url,
        MBOA_REDIS_URL=redis_url,
        MBOA_LOG__LEVEL="WARNING",
        MBOA_WORKER__OUTBOX_POLL_SECONDS="0.2",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "mboa", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _old_key(owner: asyncpg.Connection, key: str) -> None:
    await owner.execute(
        "INSERT INTO idempotency_keys (merchant_id, livemode, key, request_method, request_path,"
        " request_fingerprint, created_at) VALUES ('acct_x', false, $1, 'POST', '/v1/x', 'f',"
        " now() - interval '3 days')",
        key,
    )


async def _commit_prune_job(db: Database) -> None:
    async with db.platform_transaction() as session:
        await enqueue(session, "idempotency.prune", {})


async def _gone(owner: asyncpg.Connection, key: str) -> bool:
    for _ in range(300):  # up to 30 s
        if not await owner.fetchval("SELECT 1 FROM idempotency_keys WHERE key = $1", key):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_jobs_committed_while_workers_are_dead_run_when_one_returns(
    clean: None,
    db: Database,
    owner_connection: asyncpg.Connection,
    database_url: str,
    redis_url: str,
) -> None:
    # No worker is running: the job waits in the outbox.
    await _old_key(owner_connection, "first")
    await _commit_prune_job(db)
    await asyncio.sleep(0.5)
    # (Only this test's task is counted: another test's leftover background work on this
    # database, a mail or a cron job, may add its own rows.)
    assert (
        await owner_connection.fetchval(
            "SELECT count(*) FROM outbox WHERE relayed_at IS NULL AND task = 'idempotency.prune'"
        )
        == 1
    )

    worker = _start_worker(database_url, redis_url)
    try:
        assert await _gone(owner_connection, "first")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)

    # The worker died hard; work committed meanwhile is delayed, not lost.
    await _old_key(owner_connection, "second")
    await _commit_prune_job(db)
    await asyncio.sleep(0.5)
    assert await owner_connection.fetchval("SELECT 1 FROM idempotency_keys WHERE key = 'second'")

    worker = _start_worker(database_url, redis_url)
    try:
        assert await _gone(owner_connection, "second")
        relayed = await owner_connection.fetch(
            "SELECT relayed_at, job_id FROM outbox WHERE task = 'idempotency.prune' ORDER BY id"
        )
        assert [r["relayed_at"] is not None for r in relayed] == [True, True]
        assert len({r["job_id"] for r in relayed}) == 2
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 20) == 0
