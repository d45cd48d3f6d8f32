"""Benchmark: authenticated GET of one object, beside a bare FastAPI GET in the same run.

Everything is co-located on this machine: PostgreSQL (embedded, `bench-api` profile, or
MBOA_BENCH_DATABASE_URL), Redis, the API under uvicorn, and `wrk` as the load generator.

    make bench-api-auth     (BENCH_SECONDS=20 by default; BENCH_WORKERS=2 uvicorn workers, one per core)

The last line printed is one JSON object: requests/s and latency percentiles for `GET
/v1/customers/{id}` with `Authorization: Bearer sk_test_…` and for the bare endpoint, and their
ratio, at each concurrency of BENCH_CONNECTIONS (default "16,32"). Rate limiting is left on but
set high enough not to reject (its Redis round trip is part of the measured cost), and the access
log is written at INFO as in production (to /dev/null).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
WARMUP_SECONDS = int(os.environ.get("BENCH_WARMUP_SECONDS", "5"))
# Closed-loop load at two concurrencies: 16 connections already saturate 2 cores (throughput
# stops growing), 32 show what queueing adds to the tail. The goal is judged at each.
CONNECTION_LEVELS = [
    int(level) for level in os.environ.get("BENCH_CONNECTIONS", "16,32").split(",") if level
]
GOAL_RPS = 3000
GOAL_P99_MS = 15
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))

BARE_APP = """
from fastapi import FastAPI
app = FastAPI()
@app.get("/bare/{object_id}")
async def bare(object_id: str) -> dict[str, object]:
    return {"id": object_id, "object": "customer", "livemode": False, "metadata": {}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


def parse_duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    value, unit = float(match.group(1)), match.group(2)
    return {"us": value / 1000, "ms": value, "s": value * 1000, "m": value * 60_000}[unit]


def run_wrk(url: str, seconds: int, headers: dict[str, str], connections: int) -> dict[str, Any]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for key, value in headers.items():
        command[1:1] = ["-H", f"{key}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    percentiles = {
        p: parse_duration_ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {
        "rps": round(rps, 1),
        "p50_ms": percentiles.get("50"),
        "p99_ms": percentiles.get("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(0) if errors else None,
    }


def measure(url: str, headers: dict[str, str], connections: int) -> dict[str, Any]:
    run_wrk(url, WARMUP_SECONDS, headers, connections)
    return run_wrk(url, SECONDS, headers, connections)


async def prepare(database_url: str) -> tuple[str, str]:
    """A merchant with a secret key and one customer, created through the services."""
    from mboa.config import get_settings
    from mboa.customers.schemas import CustomerCreate
    from mboa.customers.service import customer as customer_service
    from mboa.postgres import Database, set_tenant
    from mboa.users.service import user as user_service

    settings = get_settings()
    db = Database.connect(settings, database_url, process="bench")
    try:
        async with db.app_sessions() as session, session.begin():
            _, merchant, keys = await user_service.signup(
                session,
                email=f"bench{int(time.time() * 1000)}@mboa.cm",
                password="bench-password-1",
                name=None,
                business_name="Bench",
                settings=settings.auth,
                jwt_secret="bench-jwt-secret-bench-jwt-secret",
            )
            secret = next(s for k, s in keys if s.startswith("sk_test_"))
            from mboa.auth.scopes import KEY_PERMISSIONS
            from mboa.auth.subject import AuthSubject, SubjectKind
            from mboa.models import ApiKeyType

            subject = AuthSubject(
                kind=SubjectKind.secret_key,
                permissions=KEY_PERMISSIONS[ApiKeyType.secret],
                merchant_id=merchant.id,
                livemode=False,
            )
            await set_tenant(session, subject.tenant)
            customer = await customer_service.create(
                session, subject, CustomerCreate(name="Ama", phone="677123456")
            )
        return secret, customer.id
    finally:
        await db.dispose()


def start_server(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        env={**env, "MBOA_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install -y wrk")
    # Production defaults: INFO, so every request writes its JSON access-log line (to /dev/null).
    os.environ.setdefault("MBOA_LOG__LEVEL", "INFO")
    os.environ.setdefault("MBOA_RATE_LIMIT__TEST_PER_SECOND", "1000000")
    os.environ.setdefault("MBOA_AUTH__JWT_SECRET", "bench-jwt-secret-bench-jwt-secret")
    os.environ.setdefault("MBOA_DATA_DIR", str(ROOT / ".mboa"))
    from mboa.config import get_settings
    from mboa.dev.runtime import migrate
    from mboa.dev.servers import EmbeddedServers
    from mboa.postgres import with_database

    servers = None
    database_url = os.environ.get("MBOA_BENCH_DATABASE_URL")
    redis_url = os.environ.get("MBOA_BENCH_REDIS_URL")
    if not database_url or not redis_url:
        servers = EmbeddedServers.for_profile(get_settings().data_dir, "bench-api")
        servers.acquire()
        database_url = database_url or with_database(servers.postgres.url, "mboa_bench")
        redis_url = redis_url or servers.redis.url
    processes: list[subprocess.Popen[bytes]] = []
    try:
        migrate(database_url)
        secret, customer_id = asyncio.run(prepare(database_url))
        env = {**os.environ, "MBOA_DATABASE_URL": database_url, "MBOA_REDIS_URL": redis_url}

        api_port = free_port()
        api = start_server(
            [sys.executable, "-m", "mboa", "api", "--workers", str(WORKERS)], env, api_port
        )
        processes.append(api)
        bare_dir = ROOT / ".mboa" / "bench-bare"
        bare_dir.mkdir(parents=True, exist_ok=True)
        (bare_dir / "bare_app.py").write_text(BARE_APP)
        bare_port = free_port()
        bare = start_server(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--app-dir",
                str(bare_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(bare_port),
                "--workers",
                str(WORKERS),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env,
            bare_port,
        )
        processes.append(bare)
        wait_ready(f"http://127.0.0.1:{api_port}/readyz")
        wait_ready(f"http://127.0.0.1:{bare_port}/bare/x")
        auth_url = f"http://127.0.0.1:{api_port}/v1/customers/{customer_id}"
        check = httpx.get(auth_url, headers={"Authorization": f"Bearer {secret}"})
        assert check.status_code == 200, check.text

        result: dict[str, Any] = {
            "benchmark": "api_auth",
            "seconds": SECONDS,
            "uvicorn_workers": WORKERS,
            "log_level": os.environ["MBOA_LOG__LEVEL"],
            "goal_rps": GOAL_RPS,
            "goal_p99_ms": GOAL_P99_MS,
        }
        met_at = []
        for connections in CONNECTION_LEVELS:
            bare = measure(f"http://127.0.0.1:{bare_port}/bare/{customer_id}", {}, connections)
            auth = measure(auth_url, {"Authorization": f"Bearer {secret}"}, connections)
            c = f"c{connections}"
            result |= {
                f"auth_get_{c}_rps": auth["rps"],
                f"auth_get_{c}_p50_ms": auth["p50_ms"],
                f"auth_get_{c}_p99_ms": auth["p99_ms"],
                f"auth_get_{c}_non_2xx": auth["non_2xx"],
                f"bare_get_{c}_rps": bare["rps"],
                f"bare_get_{c}_p99_ms": bare["p99_ms"],
                f"ratio_auth_to_bare_{c}": round(auth["rps"] / bare["rps"], 3),
            }
            print(
                f"{connections} connections: authenticated GET {auth['rps']:.0f} req/s,"
                f" p50 {auth['p50_ms']} ms, p99 {auth['p99_ms']} ms; bare GET {bare['rps']:.0f}"
                f" req/s, p99 {bare['p99_ms']} ms",
                flush=True,
            )
            if auth["rps"] >= GOAL_RPS and (auth["p99_ms"] or 1e9) <= GOAL_P99_MS:
                met_at.append(connections)
        result["goal_met_at_connections"] = met_at
        print(json.dumps(result))
    finally:
        for process in processes:
            stop(process)
        if servers is not None:
            servers.release()


if __name__ == "__main__":
    main()
