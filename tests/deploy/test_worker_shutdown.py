"""A real `mboa worker` process sent SIGTERM in the middle of a job takes no new job and lets the
running one finish within `MBOA_WORKER__SHUTDOWN_GRACE_SECONDS` (docs/deploy.md §7); past the
grace period it exits anyway and the unfinished job is handed back: another worker process
finishes it, once."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from mboa.postgres import Database
from mboa.worker import TaskContext, enqueue, task

REPOSITORY = Path(__file__).resolve().parents[2]
# The worker process imports this module first, so that it knows the task below.
WORKER_WITH_TEST_TASKS = f"import {__name__}\nfrom mboa.cli import main\nmain()\n"


@task("tests.slow", queue="tests_shutdown", attempts=3, backoff_ms=100)
async def slow(ctx: TaskContext, payload: dict[str, Any]) -> None:
    """Records its start and its end, `seconds` apart, under the test's own keys."""
    redis = Redis.from_url(ctx.settings.redis_url.get_secret_value())  # type: ignore[union-attr]
    try:
        await redis.rpush(f"{payload['run']}:started", payload["n"])
        await asyncio.sleep(float(payload["seconds"]))
        await redis.rpush(f"{payload['run']}:finished", payload["n"])
    finally:
        await redis.aclose()


class Worker:
    def __init__(self, tmp: Path, database_url: str, redis_url: str, grace: float, n: int):
        env = {
            **os.environ,
            "PYTHONPATH": str(REPOSITORY),
            "MBOA_DATABASE_URL": database_url,
            "MBOA_REDIS_URL": redis_url,
            "MBOA_DATA_DIR": str(tmp / "data"),
            "MBOA_WORKER__SHUTDOWN_GRACE_SECONDS": str(grace),
            # A job whose worker is gone is taken up again within a second or two.
            "MBOA_WORKER__LOCK_DURATION_MS": "1000",
            "MBOA_WORKER__STALLED_INTERVAL_MS": "500",
            "MBOA_WORKER__OUTBOX_POLL_SECONDS": "0.1",
            "MBOA_METRICS__ENABLED": "false",
        }
        self.log = tmp / f"worker-{n}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", WORKER_WITH_TEST_TASKS, "worker"],
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def terminate(self) -> tuple[int, float]:
        """SIGTERM, as Kubernetes sends it; the exit code and how long the exit took."""
        signalled = time.monotonic()
        os.killpg(self.process.pid, signal.SIGTERM)
        code = await asyncio.to_thread(self.process.wait, 60)
        return code, time.monotonic() - signalled

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def _until(redis: Redis, key: str, count: int, seconds: float = 60) -> bool:
    for _ in range(int(seconds * 20)):
        if await redis.llen(key) >= count:
            return True
        await asyncio.sleep(0.05)
    return False


async def _enqueue_slow(db: Database, run: str, n: str, seconds: float) -> None:
    async with db.platform_transaction() as session:
        await enqueue(session, "tests.slow", {"run": run, "n": n, "seconds": seconds})


async def test_a_running_job_finishes_before_the_worker_exits(
    tmp_path: Path, db: Database, database_url: str, redis_url: str, redis: Redis
) -> None:
    run = f"tests:shutdown:{secrets.token_hex(4)}"
    worker = Worker(tmp_path, database_url, redis_url, grace=20, n=1)
    try:
        await _enqueue_slow(db, run, "1", seconds=2)
        assert await _until(redis, f"{run}:started", 1), worker.output()
        code, took = await worker.terminate()
    finally:
        worker.kill()
    assert code == 0, worker.output()
    # It waited for the job rather than dropping it, and ran it once.
    assert await redis.lrange(f"{run}:finished", 0, -1) == [b"1"], worker.output()
    assert await redis.lrange(f"{run}:started", 0, -1) == [b"1"]
    assert took < 20, took


async def test_past_the_grace_period_the_job_is_handed_back_and_finished_once(
    tmp_path: Path, db: Database, database_url: str, redis_url: str, redis: Redis
) -> None:
    run = f"tests:shutdown:{secrets.token_hex(4)}"
    first = Worker(tmp_path, database_url, redis_url, grace=0.3, n=1)
    try:
        await _enqueue_slow(db, run, "2", seconds=4)
        assert await _until(redis, f"{run}:started", 1), first.output()
        code, took = await first.terminate()
    finally:
        first.kill()
    assert code == 0, first.output()
    assert took < 4, took  # it did not wait the job out
    assert "worker_jobs_unfinished_at_shutdown" in first.output()
    assert await redis.llen(f"{run}:finished") == 0
    # Another worker process takes the job up again and finishes it.
    second = Worker(tmp_path, database_url, redis_url, grace=20, n=2)
    try:
        assert await _until(redis, f"{run}:finished", 1), second.output()
        await asyncio.sleep(2)  # time for a duplicate run to show up, were there one
        code, _ = await second.terminate()
    finally:
        second.kill()
    assert code == 0, second.output()
    assert await redis.lrange(f"{run}:finished", 0, -1) == [b"2"]
    assert await redis.lrange(f"{run}:started", 0, -1) == [b"2", b"2"]
