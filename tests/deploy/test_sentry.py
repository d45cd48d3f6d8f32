"""Sentry (mboa/sentry.py) against a local HTTP server standing in for the DSN's host: an error
in a request, in a task and in a failed migration (a real `mboa db upgrade`) arrive, tagged, with
nothing sensitive in them."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sentry_sdk
from fastapi import APIRouter
from pydantic import SecretStr

from mboa import sentry
from mboa.app import create_app
from mboa.config import Settings
from mboa.kit.net import free_port
from mboa.postgres import Database
from mboa.state import AppState
from mboa.worker import TaskContext, enqueue, task
from mboa.worker.run import run_worker
from tests.conftest import serve

# Drawn at run time: the events carry source lines as context, which must not be what matches.
_DIGITS = f"{secrets.randbelow(10**6):06d}"
PHONE = f"+237677{_DIGITS}"
_KEY_BODY = secrets.token_hex(12)
SECRET_KEY = f"sk_test_{_KEY_BODY}"
DB_PASSWORD = secrets.token_hex(8)
TOKEN = f"tok_{secrets.token_hex(8)}"
SENSITIVE = (PHONE[4:], SECRET_KEY, _KEY_BODY[:20], DB_PASSWORD, TOKEN)


@task("tests.sentry_fail", queue="tests_sentry", attempts=1)
async def fail(ctx: TaskContext, payload: dict[str, Any]) -> None:
    raise RuntimeError(
        f"operator refused wallet {payload['phone']} with token {payload['token']}"
        f" (postgresql://mboa:{DB_PASSWORD}@db:5432/mboa)"
    )


class Collector(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        encoding = self.headers.get("content-encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # type: ignore[import-not-found]

            body = brotli.decompress(body)
        self.received.append({"path": self.path, "raw": body.decode("utf-8", "replace")})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def events(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `event` items of the envelopes received."""
    found = []
    for envelope in received:
        lines = envelope["raw"].split("\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                found.append(json.loads(payload))
    return found


@pytest.fixture
def dsn_host() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (Collector,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_port}/42", received
    finally:
        server.shutdown()
        server.server_close()


@contextlib.asynccontextmanager
async def sentry_on(settings: Settings, dsn: str, process: str) -> AsyncIterator[None]:
    configured = settings.model_copy(
        update={"sentry_dsn": SecretStr(dsn), "release": "9.9.9", "deployment": "staging"}
    )
    assert sentry.init(configured, process=process)
    try:
        yield
    finally:
        sentry.flush()
        sentry_sdk.get_client().close()
        sentry_sdk.init(dsn=None)  # this test process sends nothing after this test
        sentry._enabled = False


async def _arrived(received: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        sentry.flush()
        found = events(received)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    return events(received)


def _assert_clean(received: list[dict[str, Any]]) -> None:
    raw = "\n".join(e["raw"] for e in received)
    for secret in SENSITIVE:
        at = raw.find(secret)
        assert at < 0, (secret, raw[max(at - 300, 0) : at + 100])


async def test_an_error_in_a_request_arrives_tagged_and_scrubbed(
    app_state: AppState, settings: Settings, dsn_host: tuple[str, list[dict[str, Any]]]
) -> None:
    dsn, received = dsn_host
    app = create_app(app_state)
    broken = APIRouter()

    @broken.post("/_test/broken")
    async def explode() -> None:
        raise ValueError(f"cannot charge {PHONE} with key {SECRET_KEY}")

    app.include_router(broken)
    async with (
        sentry_on(settings, dsn, "api"),
        serve(app_state, app=app) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.post(
            "/_test/broken",
            headers={"Authorization": f"Bearer {SECRET_KEY}", "Cookie": "session=abc"},
        )
        assert response.status_code == 500
        assert SECRET_KEY not in response.text
        request_id = response.headers["x-request-id"]
        found = await _arrived(received, 1)
    assert found, "no event reached the DSN's host"
    event = found[0]
    assert event["release"] == "9.9.9"
    assert event["environment"] == "staging"
    assert event["tags"]["request_id"] == request_id
    assert event["tags"]["process"] == "api"
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ValueError"
    assert f"******{PHONE[-3:]}" in exception["value"]  # masked as in the logs, still useful
    assert "sk_test_…" in exception["value"]
    _assert_clean(received)


async def test_an_error_in_a_task_arrives_tagged_and_scrubbed(
    settings: Settings,
    db: Database,
    database_url: str,
    redis_url: str,
    dsn_host: tuple[str, list[dict[str, Any]]],
) -> None:
    dsn, received = dsn_host
    worker_settings = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
    async with sentry_on(worker_settings, dsn, "worker"):
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(worker_settings, database_url, redis_url, stop=stop)
        )
        try:
            async with db.platform_transaction() as session:
                await enqueue(session, "tests.sentry_fail", {"phone": PHONE, "token": TOKEN})
            found = await _arrived(received, 1)
        finally:
            stop.set()
            await worker
    assert found, "no event reached the DSN's host"
    (event,) = [e for e in found if e["tags"].get("task") == "tests.sentry_fail"]
    assert event["tags"]["queue"] == "tests_sentry"
    assert event["tags"]["process"] == "worker"
    assert event["release"] == "9.9.9"
    (exception,) = event["exception"]["values"]
    assert "postgresql://mboa:[redacted]@db" in exception["value"]
    _assert_clean(received)


def test_a_failing_migration_job_reports_to_sentry(
    tmp_path: Path, redis_url: str, dsn_host: tuple[str, list[dict[str, Any]]]
) -> None:
    """`mboa db upgrade` (the chart's pre-upgrade Job) is a process too: a failed migration
    arrives, tagged, without the database password that its URL carries."""
    dsn, received = dsn_host
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env.update(
        HOME=str(tmp_path),
        MBOA_DATA_DIR=str(tmp_path / "data"),
        MBOA_SENTRY_DSN=dsn,
        MBOA_RELEASE="9.9.9",
        MBOA_DEPLOYMENT="staging",
        # Nothing listens there: the migration fails to connect.
        MBOA_DATABASE_URL=f"postgresql://mboa:{DB_PASSWORD}@127.0.0.1:{free_port()}/mboa",
        MBOA_REDIS_URL=redis_url,
    )
    result = subprocess.run(
        [sys.executable, "-m", "mboa", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    # The process flushed before it exited: whatever it sent has arrived.
    (event,) = events(received)
    assert event["tags"]["process"] == "db-upgrade"
    assert event["release"] == "9.9.9"
    assert event["environment"] == "staging"
    assert event["exception"]["values"]
    _assert_clean(received)
