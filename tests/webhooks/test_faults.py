"""Issue 14 point 6 with real processes: a `mboa worker` SIGKILLed mid-delivery (after the POST,
before its outcome is recorded) and a Redis restarted mid-run lose no delivery; the event keeps
its `webhook-id`, and a receiver may see it twice (at least once)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from mboa.postgres import Database
from mboa.simulator.run import RunningSimulators
from tests.faults.conftest import Workers, worker_env
from tests.faults.test_redis_outage import Redis
from tests.helpers import Api
from tests.providers.conftest import _fresh_state, sims
from tests.webhooks.conftest import Behaviour, Receiver, create_endpoint, verify, write_event

__all__ = ["_fresh_state", "sims"]
pytestmark = pytest.mark.slow

FAST = {
    "MBOA_WEBHOOKS__TIMEOUT_SECONDS": "2",  # a killed attempt's lease lapses after 7 s
    "MBOA_WEBHOOKS__RETRY_BASE_SECONDS": "1",
    "MBOA_WEBHOOKS__RETRY_MAX_INTERVAL_SECONDS": "2",
}


@pytest.fixture
def webhook_workers(
    database_url: str, redis_url: str, base_url: str, sims: RunningSimulators, tmp_path: Path
) -> Any:
    def make_env(*, crash_at: str | None = None, **changes: Any) -> dict[str, str]:
        env = worker_env(
            database_url=database_url,
            redis_url=changes.get("redis_url", redis_url),
            base_url=base_url,
            sims=sims,
            crash_at=crash_at,
        )
        # The key the API encrypted the secrets with (worker_env passes no MBOA_ variable on).
        key = os.environ["MBOA_WEBHOOKS__ENCRYPTION_KEY"]
        return {**env, **FAST, "MBOA_WEBHOOKS__ENCRYPTION_KEY": key}

    running = Workers(make_env, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


async def _all_succeeded(owner: asyncpg.Connection, count: int, within: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        rows = await owner.fetch("SELECT status FROM webhook_deliveries")
        if len(rows) == count and all(r["status"] == "succeeded" for r in rows):
            return
        if loop.time() > deadline:
            raise AssertionError([r["status"] for r in rows])
        await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_delivery_loses_nothing(
    api: Api,
    db: Database,
    receiver: Receiver,
    webhook_workers: Workers,
    owner_connection: asyncpg.Connection,
) -> None:
    account = await api.signup()
    endpoint = await create_endpoint(api, account.secret_key, f"{receiver.url}/k")
    doomed = webhook_workers.start(crash_at="webhook_after_send")
    events = [await write_event(db, account.merchant_id) for _ in range(3)]
    await webhook_workers.killed(doomed)
    sent_before = len(receiver.on("/k"))
    assert sent_before >= 1  # the POST went out, its outcome was never recorded
    assert (
        await owner_connection.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
        )
        == 0
    )

    webhook_workers.start()
    await _all_succeeded(owner_connection, 3)
    received = receiver.on("/k")
    assert {r.headers["webhook-id"] for r in received} == set(events)
    for request in received:
        assert verify(endpoint["secret"], request)["id"] == request.headers["webhook-id"]
    assert len(received) > sent_before  # the cut-off attempt was made again


async def test_a_redis_restart_loses_no_delivery_nor_scheduled_retry(
    api: Api,
    db: Database,
    receiver: Receiver,
    webhook_workers: Workers,
    owner_connection: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    redis = Redis(tmp_path / "redis")
    redis.start()
    try:
        account = await api.signup()
        endpoint = await create_endpoint(api, account.secret_key, f"{receiver.url}/r")
        receiver.behaviour["/r"] = Behaviour(status=500)
        worker = webhook_workers.start(redis_url=redis.url)
        first = await write_event(db, account.merchant_id)
        await receiver.wait_for(lambda: len(receiver.on("/r")) >= 1, within=30)

        redis.stop()  # the retry of `first` waits in Redis (delayed), the next events in the outbox
        later = [await write_event(db, account.merchant_id) for _ in range(3)]
        await asyncio.sleep(1.0)
        receiver.behaviour["/r"] = Behaviour(status=200)
        redis.start()

        await _all_succeeded(owner_connection, 4)
        assert worker.poll() is None  # the same worker rode the outage out
        received = receiver.on("/r")
        assert {r.headers["webhook-id"] for r in received} == {first, *later}
        assert all(verify(endpoint["secret"], r) for r in received)
    finally:
        webhook_workers.stop_all()
        redis.stop()
