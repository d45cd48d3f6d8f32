"""Real `mboa` processes for the deploy tests, run as the image runs them: production mode,
external PostgreSQL and Redis, secrets from the environment, an empty working directory."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from mboa.kit.net import free_port
from mboa.postgres import database_name
from tests.helpers import PASSWORD
from tests.plugin import database_for, recreate


@dataclasses.dataclass
class Platform:
    env: dict[str, str]
    workdir: Path
    api_port: int
    api_metrics_port: int
    worker_metrics_port: int
    processes: list[subprocess.Popen[bytes]] = dataclasses.field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.workdir.parent / f"{args[0]}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "mboa", *args],
            env={**self.env, **env},
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def log_of(self, index: int, name: str) -> str:
        return (self.workdir.parent / f"{name}-{index}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def make_platform(tmp: Path, name: str, redis_url: str, **extra: str) -> Platform:
    url = database_for(os.environ["MBOA_TEST_DATABASE_URL"], name)
    template = database_for(os.environ["MBOA_TEST_DATABASE_URL"], "template")
    asyncio.run(recreate(url, template=database_name(template)))
    workdir = tmp / "work"
    workdir.mkdir()
    api_port, api_metrics, worker_metrics = free_port(), free_port(), free_port()
    mtn, orange = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBOA_")}
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        TMPDIR=str(workdir),
        HOME=str(workdir),
        MBOA_ENV="production",
        MBOA_DATABASE_URL=url,
        MBOA_REDIS_URL=redis_url,
        MBOA_AUTH__JWT_SECRET="deploy-test-secret-0123456789abcdef",
        MBOA_AUTH__ARGON2_TIME_COST="1",
        MBOA_AUTH__ARGON2_MEMORY_COST_KIB="1024",
        MBOA_WEBHOOKS__ENCRYPTION_KEY=os.environ["MBOA_WEBHOOKS__ENCRYPTION_KEY"],
        MBOA_DATA_DIR=str(workdir / "data"),
        MBOA_PORT=str(api_port),
        MBOA_API__PUBLIC_URL=f"http://127.0.0.1:{api_port}",
        MBOA_METRICS__PORT=str(api_metrics),
        MBOA_METRICS__WORKER_PORT=str(worker_metrics),
        MBOA_PROVIDERS__SIMULATOR__MTN_PORT=str(mtn),
        MBOA_PROVIDERS__SIMULATOR__ORANGE_PORT=str(orange),
        MBOA_PROVIDERS__SIMULATOR__AUTO_APPROVE_SECONDS="0.2",
        MBOA_WORKER__OUTBOX_POLL_SECONDS="0.1",
        MBOA_LOG__LEVEL="WARNING",
        **extra,
    )
    return Platform(env, workdir, api_port, api_metrics, worker_metrics)


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s")


@contextlib.contextmanager
def running(platform: Platform) -> Iterator[Platform]:
    try:
        yield platform
    finally:
        platform.stop_all()


def signup(api_url: str) -> str:
    """A merchant's test secret key."""
    response = httpx.post(
        f"{api_url}/v1/auth/signup",
        json={
            "email": f"deploy{time.monotonic_ns()}@example.cm",
            "password": PASSWORD,
            "business_name": "Deploy test",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    keys = {k["type"]: k["secret"] for k in response.json()["api_keys"]}
    return str(keys["secret"])
