"""`GET /v1/events/stream`: server-sent events as they commit, resumable with `Last-Event-ID`,
filtered by type, with heartbeats; it ends cleanly when the client goes or the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from mboa.config import EventsSettings, Settings
from mboa.kit.ids import Prefix, new_id
from mboa.kit.net import free_port
from mboa.postgres import plain_url
from mboa.state import AppState
from tests.conftest import other_api
from tests.events.helpers import cancel_intent, create_intent, list_events
from tests.helpers import Api, assert_error, bearer

FAST = EventsSettings(stream_poll_seconds=0.05, stream_heartbeat_seconds=0.3)


@pytest.fixture
async def streaming(
    settings: Settings, database_url: str, redis_url: str, clean: None
) -> AsyncIterator[tuple[AppState, httpx.AsyncClient]]:
    """An API process that polls fast and beats often, so the tests wait little."""
    configured = settings.model_copy(update={"events": FAST})
    async with other_api(configured, database_url, redis_url) as (state, client):
        client.timeout = httpx.Timeout(30)
        yield state, client


class Reader:
    """Reads one stream in the background, keeping what arrives."""

    def __init__(
        self, client: httpx.AsyncClient, key: str, *, params: Any = None, last: str | None = None
    ) -> None:
        self.events: list[ServerSentEvent] = []
        self.status: int | None = None
        self.opened = asyncio.Event()
        self.changed = asyncio.Event()
        headers = bearer(key)
        if last is not None:
            headers["Last-Event-ID"] = last
        self.task = asyncio.create_task(self._read(client, headers, params))

    async def _read(self, client: httpx.AsyncClient, headers: dict[str, str], params: Any) -> None:
        async with aconnect_sse(
            client, "GET", "/v1/events/stream", headers=headers, params=params
        ) as source:
            self.status = source.response.status_code
            self.opened.set()
            async for sse in source.aiter_sse():
                if not sse.data:
                    continue  # a heartbeat (httpx-sse reports one as an empty message)
                self.events.append(sse)
                self.changed.set()

    async def until(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(within):
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        return [json.loads(e.data) for e in self.events]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_events_arrive_as_they_commit_and_the_stream_resumes(
    api: Api, streaming: tuple[AppState, httpx.AsyncClient]
) -> None:
    _, client = streaming
    account = await api.signup()
    key = account.secret_key
    before = (await create_intent(api.http, key)).json()  # committed before the stream opens

    reader = Reader(client, key)
    await asyncio.wait_for(reader.opened.wait(), 10)
    assert reader.status == 200
    intent = (await create_intent(api.http, key)).json()
    await cancel_intent(api.http, key, intent["id"])
    received = await reader.until(2)
    assert [(e["type"], e["sequence"]) for e in received] == [
        ("payment_intent.created", 1),
        ("payment_intent.canceled", 2),
    ]
    assert [e.id for e in reader.events] == [e["id"] for e in received]
    assert all(e["data"]["object"]["id"] == intent["id"] for e in received)
    assert before["id"] not in {e["data"]["object"]["id"] for e in received}
    # Each message is the event exactly as the API serves it.
    listed = {e["id"]: e for e in (await list_events(api.http, key, limit=100))["data"]}
    assert all(listed[e["id"]] == e for e in received)
    await reader.close()

    # Resume after the first: the second is replayed, then new events follow.
    resumed = Reader(client, key, last=received[0]["id"])
    replayed = await resumed.until(1)
    assert [e["id"] for e in replayed] == [received[1]["id"]]
    later = (await create_intent(api.http, key)).json()
    assert (await resumed.until(2))[1]["data"]["object"]["id"] == later["id"]
    await resumed.close()


async def test_types_filter_and_heartbeats(
    api: Api, streaming: tuple[AppState, httpx.AsyncClient]
) -> None:
    _, client = streaming
    account = await api.signup()
    key = account.secret_key
    reader = Reader(client, key, params={"types[]": ["payment_intent.canceled"]})
    await asyncio.wait_for(reader.opened.wait(), 10)
    intent = (await create_intent(api.http, key)).json()
    await cancel_intent(api.http, key, intent["id"])
    (received,) = await reader.until(1)
    assert received["type"] == "payment_intent.canceled"
    await reader.close()

    # Raw lines: a comment line arrives while nothing happens.
    async with client.stream("GET", "/v1/events/stream", headers=bearer(key)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async with asyncio.timeout(5):
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    break


async def test_another_merchants_events_never_arrive(
    api: Api, streaming: tuple[AppState, httpx.AsyncClient]
) -> None:
    _, client = streaming
    mine, theirs = await api.signup(), await api.signup()
    reader = Reader(client, mine.secret_key)
    await asyncio.wait_for(reader.opened.wait(), 10)
    await create_intent(api.http, theirs.secret_key)
    own = (await create_intent(api.http, mine.secret_key)).json()
    (received,) = await reader.until(1)
    assert received["data"]["object"]["id"] == own["id"]
    await asyncio.sleep(0.3)
    assert len(reader.events) == 1
    await reader.close()


async def test_refusals_are_error_objects(
    api: Api, streaming: tuple[AppState, httpx.AsyncClient]
) -> None:
    _, client = streaming
    account, live_key = await api.live_account()
    response = await client.get("/v1/events/stream", headers=bearer(live_key))
    assert_error(response, 400, code="event_stream_test_mode_only")

    headers = {**bearer(account.secret_key), "Last-Event-ID": new_id(Prefix.event)}
    response = await client.get("/v1/events/stream", headers=headers)
    assert_error(response, 400, code="resource_missing", param="Last-Event-ID")

    response = await client.get(
        "/v1/events/stream", params={"type": "Bad Type"}, headers=bearer(account.secret_key)
    )
    assert_error(response, 400, param="type")

    reader = await api.create_key(account, type="restricted", scopes=["payment_intents:read"])
    response = await client.get("/v1/events/stream", headers=bearer(reader["secret"]))
    assert_error(response, 403)


async def test_a_late_commit_is_not_skipped(
    api: Api, streaming: tuple[AppState, httpx.AsyncClient], database_url: str
) -> None:
    """An event written by a transaction that began first but commits last: the stream holds
    back what follows until it ends, then sends both, in the writing transactions' order."""
    _, client = streaming
    account = await api.signup()
    reader = Reader(client, account.secret_key)
    await asyncio.wait_for(reader.opened.wait(), 10)
    slow = await asyncpg.connect(plain_url(database_url))
    try:
        transaction = slow.transaction()
        await transaction.start()
        late_id = new_id(Prefix.event)
        await slow.execute(
            "INSERT INTO events (id, merchant_id, livemode, type, object_id, data, created_at)"
            " VALUES ($1, $2, false, 'test.updated', 'pi_slow', $3::jsonb, now())",
            late_id,
            account.merchant_id,
            json.dumps({"object": {"id": "pi_slow"}}),
        )
        quick = (await create_intent(api.http, account.secret_key)).json()
        await asyncio.sleep(0.5)
        assert reader.events == [], "held back while an older transaction runs"
        await transaction.commit()
    finally:
        await slow.close()
    received = await reader.until(2)
    assert received[0]["id"] == late_id
    assert received[1]["data"]["object"]["id"] == quick["id"]
    await reader.close()


_PROCESS_WIDE = (
    "_shutdown_watcher",  # sse-starlette's, from the first stream to the end of the process
    "KeyUsage._flush_later",  # keys' last use, written in one batch (mboa/auth/last_used.py)
    "RequestLog._flush_soon",  # the request log's batch to Redis (mboa/request_log/)
)


def _our_tasks() -> int:
    """Running tasks, without the process-wide ones that any request may start and that end on
    their own schedule, not with a stream."""
    return sum(
        1
        for task in asyncio.all_tasks()
        if not getattr(task.get_coro(), "__qualname__", "").endswith(_PROCESS_WIDE)
    )


async def test_a_client_that_goes_leaves_nothing_running(
    api: Api, streaming: tuple[AppState, httpx.AsyncClient]
) -> None:
    state, client = streaming
    account = await api.signup()
    baseline = _our_tasks()
    readers = [Reader(client, account.secret_key) for _ in range(3)]
    for reader in readers:
        await asyncio.wait_for(reader.opened.wait(), 10)
    await create_intent(api.http, account.secret_key)
    for reader in readers:
        await reader.until(1)
    assert _our_tasks() > baseline
    for reader in readers:
        await reader.close()
    async with asyncio.timeout(10):
        while _our_tasks() > baseline or state.db.reads.checked_out():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def _api_env(database_url: str, redis_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env.update(
        MBOA_ENV="testing",
        MBOA_DATABASE_URL=database_url,
        MBOA_REDIS_URL=redis_url,
        MBOA_PORT=str(port),
        MBOA_LOG__LEVEL="WARNING",
        MBOA_METRICS__ENABLED="false",
        MBOA_EVENTS__STREAM_POLL_SECONDS="0.05",
    )
    return env


def _start_api(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mboa", "api"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def test_the_server_stops_with_streams_open(
    api: Api, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """`mboa api` asked to stop (SIGTERM) ends its open streams and exits at once, instead of
    waiting for clients that never hang up."""
    account = await api.signup()
    port = free_port()
    process = _start_api(_api_env(database_url, redis_url, port), tmp_path / "api.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.2)
            readers = [Reader(client, account.secret_key) for _ in range(2)]
            for reader in readers:
                await asyncio.wait_for(reader.opened.wait(), 10)
            await create_intent(api.http, account.secret_key)
            for reader in readers:
                await reader.until(1)
            process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(process.wait, 15)
            # uvicorn raises the signal again once it has stopped: the exit of a SIGTERM.
            assert code == -signal.SIGTERM, (tmp_path / "api.log").read_text()
            assert (
                "ASGI callable returned without completing"
                not in (tmp_path / "api.log").read_text()
            )
            for reader in readers:
                # The stream ended from the server's side: the reader finished by itself.
                await asyncio.wait_for(reader.task, 5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
