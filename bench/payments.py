"""Benchmark: payment intents, created and carried end to end (`make bench-payments`).

Everything is co-located on this machine, as in production on one host: PostgreSQL (embedded,
`bench-payments` profile, fsync and synchronous_commit on; or MBOA_BENCH_DATABASE_URL, an owner
URL whose database is recreated), Redis, `mboa api`, `mboa worker`, `mboa scheduler`,
`mboa simulator` (all real processes, listening on 127.0.0.1 only) and the load generators.

1. **create**: `POST /v1/payment_intents` with a phone and a unique `Idempotency-Key` (and
   `reference`) per request, 16 connections, closed loop (`wrk` with a Lua script), taken in
   MBOA_BENCH_SLICES slices in turn with a bare FastAPI + asyncpg endpoint (`RAW_APP`) that
   writes the same rows in one transaction: the intent, the attempt, the outbox job, the two
   events and the idempotency key with its stored response. `create_ratio` = ours / bare.
   Then an open loop at half the measured maximum (a rate-paced asyncio client: Debian has no
   wrk2), whose latency counts from each request's scheduled time: `create_p99_ms`.
2. **end to end**: the simulator approves every payment at once (`AUTO_APPROVE_SECONDS=0`);
   an asyncio client creates intents on 16 connections while at most MBOA_BENCH_INFLIGHT are
   not final, for MBOA_BENCH_SECONDS after a warm-up. Each one goes create → worker → MTN
   simulator → callback → status read → confirmation (transition, ledger posting, event).
   `e2e_per_s` counts the intents that became `succeeded` in the window. After a drain,
   `lost` counts the intents that are not final, differ from the simulator's own record of
   the transaction, or were posted to the ledger other than once; then `ledger verify`.

The last line printed is one JSON object. MBOA_BENCH_SECONDS=5 gives a smoke run;
MBOA_BENCH_PYSPY=<file> records py-spy's raw stacks of the API during one create slice,
MBOA_BENCH_PYSPY_WORKER=<file> those of `mboa worker` during the end-to-end window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ledger import run_verify  # noqa: E402
from mboa.config import Settings, get_settings  # noqa: E402
from mboa.dev.runtime import migrate  # noqa: E402
from mboa.dev.servers import EmbeddedServers  # noqa: E402
from mboa.postgres import Database, plain_url, with_database  # noqa: E402

SECONDS = float(os.environ.get("MBOA_BENCH_SECONDS", "60"))
WARMUP = float(os.environ.get("MBOA_BENCH_WARMUP", str(min(5.0, SECONDS / 4))))
SLICES = int(os.environ.get("MBOA_BENCH_SLICES", "4"))
CONNECTIONS = int(os.environ.get("MBOA_BENCH_CONNECTIONS", "16"))
WORKERS = int(os.environ.get("MBOA_BENCH_API_WORKERS", "2"))
INFLIGHT = int(os.environ.get("MBOA_BENCH_INFLIGHT", "400"))
# Long enough for the janitor to settle a callback the saturated API never received: its first
# status read comes `status_check_after_seconds` (30 s) after the send, on a once-a-minute run.
DRAIN = float(os.environ.get("MBOA_BENCH_DRAIN", "180"))
PYSPY = os.environ.get("MBOA_BENCH_PYSPY")
PYSPY_WORKER = os.environ.get("MBOA_BENCH_PYSPY_WORKER")
DATABASE = "mboa_bench_payments"
AMOUNT = 1500
GOALS = {"create_ratio": 0.5, "create_rps": 1500, "create_p99_ms": 25, "e2e_per_s": 250}

RAW_APP = '''
"""The bare endpoint: the same rows as `POST /v1/payment_intents`, one transaction."""
import datetime as dt
import hashlib
import os
import uuid

import asyncpg
import orjson
from fastapi import FastAPI, Header, Response
from pydantic import BaseModel

from mboa.kit.ids import new_id

MERCHANT = os.environ["BENCH_RAW_MERCHANT"]
pool = None
app = FastAPI()


class Body(BaseModel):
    amount: int
    currency: str
    phone: str
    reference: str


@app.on_event("startup")
async def start() -> None:
    global pool
    pool = await asyncpg.create_pool(os.environ["BENCH_RAW_DSN"], min_size=4, max_size=10)


@app.post("/raw/payment_intents")
async def create(body: Body, idempotency_key: str = Header()) -> Response:
    now = dt.datetime.now(dt.timezone.utc)
    intent_id, attempt_id = new_id("pi"), new_id("pat")
    obj = {
        "id": intent_id, "object": "payment_intent", "amount": body.amount,
        "currency": body.currency, "status": "processing", "reference": body.reference,
        "created": int(now.timestamp()),
        "latest_attempt": {"id": attempt_id, "provider": "mtn_momo", "status": "pending"},
    }
    rendered = orjson.dumps(obj)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO payment_intents (id, merchant_id, livemode, created_at, metadata, amount,"
            " currency, reference, status, expires_at, provider, phone, amount_received, fee,"
            " net, amount_refunded, refund_due, latest_attempt_id) VALUES ($1, $2, false, $3,"
            " '{}', $4, $5, $6, 'processing', $7, 'mtn_momo', $8, 0, 0, 0, 0, false, $9)",
            intent_id, MERCHANT, now, body.amount, body.currency, body.reference,
            now + dt.timedelta(hours=1), body.phone, attempt_id,
        )
        await conn.execute(
            "INSERT INTO payment_attempts (id, merchant_id, livemode, created_at,"
            " payment_intent_id, provider, flow, phone, phone_masked, amount, currency, status,"
            " operator_reference, next_check_at, status_checks) VALUES ($1, $2, false, $3, $4,"
            " 'mtn_momo', 'push', $5, $6, $7, $8, 'pending', $9, $10, 0)",
            attempt_id, MERCHANT, now, intent_id, body.phone, body.phone[:6] + "****",
            body.amount, body.currency, str(uuid.uuid4()), now + dt.timedelta(seconds=30),
        )
        await conn.execute(
            "INSERT INTO outbox (task, queue, payload, job_id) VALUES"
            " ('payments.initiate', 'payments', $1, $2)",
            orjson.dumps({"attempt_id": attempt_id}).decode(), "payments.initiate:" + attempt_id,
        )
        for kind in ("payment_intent.created", "payment_intent.processing"):
            await conn.execute(
                "INSERT INTO events (id, merchant_id, livemode, created_at, type, object_id, data)"
                " VALUES ($1, $2, false, $3, $4, $5, $6)",
                new_id("evt"), MERCHANT, now, kind, intent_id,
                orjson.dumps({"object": obj}).decode(),
            )
        await conn.execute(
            "INSERT INTO idempotency_keys (merchant_id, livemode, key, request_method,"
            " request_path, request_fingerprint, locked_at, response_status, response_body,"
            " response_headers, completed_at) VALUES ($1, false, $2, 'POST',"
            " '/raw/payment_intents', $3, $4, 200, $5, '{}', $4)",
            MERCHANT, idempotency_key, hashlib.sha256(rendered).hexdigest(), now, rendered,
        )
    return Response(rendered, media_type="application/json")
'''

# One request per call of `request()`, with a key and a reference of its own: PREFIX is unique
# per wrk run, `tid` per wrk thread (set in `setup`), `n` per request.
WRK_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local key = "{prefix}-" .. tid .. "-" .. n
  local body = '{{"amount":{amount},"currency":"XAF","phone":"{phone}","reference":"' .. key .. '"}}'
  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json",
    ["Authorization"] = "{auth}", ["Idempotency-Key"] = key}}, body)
end
"""
CREATE_PHONE = "+237677123456"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


def start(args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log_path = ROOT / ".mboa" / "bench-payments-logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as output:
        return subprocess.Popen(
            args, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- closed loop: wrk ------------------------------------------------------------------------


def run_wrk(port: int, path: str, auth: str, seconds: float, prefix: str) -> dict[str, Any]:
    script = WRK_SCRIPT.format(
        prefix=prefix, amount=AMOUNT, phone=CREATE_PHONE, path=path, auth=auth
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            file.name,
            f"http://127.0.0.1:{port}{path}",
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {
        "requests": requests,
        "rps": rps,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(0) if errors else None,
    }


# -- a small HTTP/1.1 client on asyncio streams (cheaper than httpx per request) -------------


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """One request; sent again once on a fresh connection when the server had closed the
        idle one (uvicorn drops keep-alive connections idle for 5 s, which happens while the
        end-to-end clients wait for room). Every request carries an Idempotency-Key, so a
        request that did arrive is not created twice."""
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            try:
                self.writer.write(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                status_line = await self.reader.readline()
            except ConnectionError:
                status_line = b""
            if not status_line:
                self.writer.close()
                self.reader = self.writer = None
                if attempt == 1:
                    continue
                raise ConnectionError(f"the API closed the connection to POST {path}")
            status = int(status_line.split()[1])
            length = 0
            close = False
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"connection" and value.strip().lower() == b"close":
                    close = True
            answer = await self.reader.readexactly(length)
            if close:
                self.writer.close()
                self.reader = self.writer = None
            return status, answer
        raise AssertionError("unreachable")


def create_body(reference: str, phone: str) -> bytes:
    return json.dumps(
        {"amount": AMOUNT, "currency": "XAF", "phone": phone, "reference": reference}
    ).encode()


async def open_loop(
    port: int, path: str, auth: str, rate: float, seconds: float, prefix: str
) -> dict[str, Any]:
    """Requests scheduled at a fixed rate; each latency counts from its scheduled time, so a
    stall shows in the tail instead of slowing the client down (no coordinated omission)."""
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    failures = 0

    async def client() -> None:
        nonlocal failures
        connection = Connection(port)
        while (item := await queue.get()) is not None:
            number, due = item
            key = f"{prefix}-{number}"
            status, _ = await connection.post(
                path,
                {"Authorization": auth, "Idempotency-Key": key},
                create_body(key, CREATE_PHONE),
            )
            latencies.append(time.perf_counter() - due)
            failures += status != 200

    clients = [asyncio.create_task(client()) for _ in range(4 * CONNECTIONS)]
    begin = time.perf_counter()
    total = int(rate * seconds)
    for number in range(total):
        due = begin + number / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((number, due))
    for _ in clients:
        queue.put_nowait(None)
    await asyncio.gather(*clients)
    latencies.sort()

    def percentile(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    return {
        "requests": len(latencies),
        "achieved_rps": round(len(latencies) / (time.perf_counter() - begin), 1),
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": round(latencies[-1] * 1000, 2),
        "failures": failures,
    }


# -- end to end ------------------------------------------------------------------------------


async def final_counts(owner: asyncpg.Connection, merchant_id: str) -> tuple[int, int]:
    row = await owner.fetchrow(
        "SELECT count(*) FILTER (WHERE status IN ('succeeded', 'canceled')) AS final,"
        " count(*) FILTER (WHERE status = 'succeeded') AS succeeded"
        " FROM payment_intents WHERE merchant_id = $1",
        merchant_id,
    )
    assert row is not None
    return int(row["final"]), int(row["succeeded"])


def e2e_phone(number: int) -> str:
    """Ordinary MTN numbers (not the `PPP0000NN` magic ones), spread over many wallets so that
    none runs out of its simulated balance."""
    return f"+237677{100000 + number % 800000:06d}"


async def end_to_end(
    port: int, auth: str, owner_url: str, merchant_id: str, prefix: str, worker_pid: int
) -> dict[str, Any]:
    owner = await asyncpg.connect(plain_url(owner_url))
    created = 0
    failures = 0
    final = succeeded = 0
    running = True
    room = asyncio.Event()
    drained = asyncio.Event()

    async def client(index: int) -> None:
        nonlocal created, failures
        connection = Connection(port)
        number = index
        while running:
            if created - final >= INFLIGHT:
                room.clear()
                await room.wait()
                continue
            key = f"{prefix}-{number}"
            status, body = await connection.post(
                "/v1/payment_intents",
                {"Authorization": auth, "Idempotency-Key": key},
                create_body(key, e2e_phone(number)),
            )
            number += CONNECTIONS
            if status == 200:
                created += 1
            else:
                failures += 1
                if failures <= 3:
                    log(f"create failed: {status} {body[:300]!r}")

    async def watch() -> None:
        nonlocal final, succeeded
        while True:
            final, succeeded = await final_counts(owner, merchant_id)
            room.set()
            if not running and final >= created:
                drained.set()
            await asyncio.sleep(0.1)

    try:
        watcher = asyncio.create_task(watch())
        clients = [asyncio.create_task(client(i)) for i in range(CONNECTIONS)]
        await asyncio.sleep(WARMUP)
        succeeded_0 = succeeded
        begin = time.perf_counter()
        spy = profile(worker_pid, SECONDS, PYSPY_WORKER) if PYSPY_WORKER else None
        await asyncio.sleep(SECONDS)
        succeeded_1 = succeeded
        if spy is not None:
            await asyncio.to_thread(spy.wait)
        window = time.perf_counter() - begin
        running = False
        room.set()
        await asyncio.gather(*clients)
        log(f"end to end: {created} created, draining")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained.wait(), DRAIN)
        drained_in = round(time.perf_counter() - begin - window, 1)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        rows = await owner.fetch(
            "SELECT i.id, i.status, a.status AS attempt_status, a.operator_reference,"
            " (SELECT count(*) FROM ledger_transactions t WHERE t.source = i.id) AS postings"
            " FROM payment_intents i LEFT JOIN payment_attempts a ON a.id = i.latest_attempt_id"
            " WHERE i.merchant_id = $1",
            merchant_id,
        )
    finally:
        await owner.close()
    return {
        "created": created,
        "create_failures": failures,
        "window": window,
        "succeeded_in_window": succeeded_1 - succeeded_0,
        "drained_in_s": drained_in,
        "rows": rows,
    }


def judge(rows: list[asyncpg.Record], truth: dict[str, str]) -> dict[str, int]:
    """`lost`: an intent that is not final, whose status is not what the simulator recorded
    (succeeded ⇔ the operator's transaction succeeded), or that was posted other than once."""
    expected = {"succeeded": "succeeded", "failed": "requires_payment_method"}
    not_final = mismatched = posted_wrong = 0
    for row in rows:
        sim_state = truth.get(row["operator_reference"] or "")
        if row["status"] not in ("succeeded", "canceled"):
            not_final += 1
        elif expected.get(sim_state or "") != row["status"]:
            mismatched += 1
        elif row["postings"] != (1 if row["status"] == "succeeded" else 0):
            posted_wrong += 1
    return {
        "not_final": not_final,
        "mismatched": mismatched,
        "posted_wrong": posted_wrong,
        "lost": not_final + mismatched + posted_wrong,
    }


# -- set-up ----------------------------------------------------------------------------------


async def recreate(owner_url: str) -> None:
    admin = await asyncpg.connect(plain_url(with_database(owner_url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()


async def signup(settings: Settings, database_url: str, name: str) -> tuple[str, str]:
    """A merchant and its `sk_test_` key, through the service."""
    from mboa.users.service import user as user_service

    db = Database.connect(settings, database_url, process="bench")
    try:
        async with db.app_sessions() as session, session.begin():
            _, merchant, keys = await user_service.signup(
                session,
                email=f"{name}{int(time.time() * 1000)}@mboa.cm",
                password="bench-password-1",
                name=None,
                business_name=name,
                settings=settings.auth,
                jwt_secret="bench-jwt-secret-bench-jwt-secret",
            )
        return merchant.id, next(s for _, s in keys if s.startswith("sk_test_"))
    finally:
        await db.dispose()


async def execute(owner_url: str, sql: str) -> str:
    owner = await asyncpg.connect(plain_url(owner_url))
    try:
        return str(await owner.execute(sql))
    finally:
        await owner.close()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory[7] if len(memory) > 7 else None,
        "python": platform.python_version(),
    }


def profile(pid: int, seconds: float, path: str) -> subprocess.Popen[bytes] | None:
    if shutil.which("py-spy") is None and not Path(sys.executable).with_name("py-spy").exists():
        log("py-spy not installed: no profile")
        return None
    binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [
            *(binary, "record", "--pid", str(pid), "--subprocesses", "--format", "raw"),
            *("--duration", str(max(1, round(seconds))), "--rate", "200", "--output", path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install -y wrk")
    os.environ.setdefault("MBOA_LOG__LEVEL", "INFO")
    os.environ.setdefault("MBOA_RATE_LIMIT__TEST_PER_SECOND", "1000000")
    # Every callback comes from 127.0.0.1 here; in production from the operators' gateways.
    os.environ.setdefault("MBOA_RATE_LIMIT__CALLBACK_PER_MINUTE", "100000000")
    os.environ.setdefault("MBOA_AUTH__JWT_SECRET", "bench-jwt-secret-bench-jwt-secret")
    os.environ.setdefault("MBOA_DATA_DIR", str(ROOT / ".mboa"))
    settings = get_settings()

    servers = None
    owner = os.environ.get("MBOA_BENCH_DATABASE_URL")
    redis_url = os.environ.get("MBOA_BENCH_REDIS_URL")
    if not owner or not redis_url:
        servers = EmbeddedServers.for_profile(settings.data_dir, "bench-payments")
        servers.acquire()
        owner = owner or servers.postgres.url
        redis_url = redis_url or servers.redis.url
    database_url = with_database(owner, DATABASE)
    processes: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {"benchmark": "payments", "seconds": SECONDS}
    try:
        asyncio.run(recreate(owner))
        migrate(database_url)
        create_merchant, create_key = asyncio.run(signup(settings, database_url, "create"))
        e2e_merchant, e2e_key = asyncio.run(signup(settings, database_url, "e2e"))
        api_port, raw_port, mtn_port, orange_port = (free_port() for _ in range(4))
        env = {
            **os.environ,
            "MBOA_DATABASE_URL": database_url,
            "MBOA_REDIS_URL": redis_url,
            "MBOA_API__PORT": str(api_port),
            "MBOA_API__PUBLIC_URL": f"http://127.0.0.1:{api_port}",
            "MBOA_PROVIDERS__SIMULATOR__MTN_PORT": str(mtn_port),
            "MBOA_PROVIDERS__SIMULATOR__ORANGE_PORT": str(orange_port),
            "MBOA_PROVIDERS__SIMULATOR__AUTO_APPROVE_SECONDS": "0",
            "MBOA_PROVIDERS__MTN_MOMO__BASE_URL": f"http://127.0.0.1:{mtn_port}",
            "MBOA_PROVIDERS__ORANGE_MONEY__BASE_URL": f"http://127.0.0.1:{orange_port}",
            "MBOA_PROVIDERS__ORANGE_MONEY__WEBPAY__BASE_URL": f"http://127.0.0.1:{orange_port}",
            "MBOA_METRICS__ENABLED": "false",
        }
        mboa = [sys.executable, "-m", "mboa"]
        api = start([*mboa, "api", "--workers", str(WORKERS), "--port", str(api_port)], env, "api")
        processes.append(api)
        raw_dir = ROOT / ".mboa" / "bench-payments-raw"
        raw_dir.mkdir(parents=True, exist_ok=True)
        (raw_dir / "raw_app.py").write_text(RAW_APP)
        raw_env = {
            **env,
            "BENCH_RAW_DSN": plain_url(database_url),
            "BENCH_RAW_MERCHANT": create_merchant,
        }
        raw = start(
            [
                *(sys.executable, "-m", "uvicorn", "raw_app:app", "--app-dir", str(raw_dir)),
                *("--host", "127.0.0.1", "--port", str(raw_port), "--workers", str(WORKERS)),
                *("--loop", "uvloop", "--http", "httptools", "--no-access-log"),
                *("--log-level", "warning"),
            ],
            raw_env,
            "raw",
        )
        processes.append(raw)
        wait_ready(f"http://127.0.0.1:{api_port}/readyz", api)
        wait_ready(f"http://127.0.0.1:{raw_port}/docs", raw)
        ours = ("/v1/payment_intents", api_port, f"Bearer {create_key}")
        bare = ("/raw/payment_intents", raw_port, "none")
        for path, port, auth in (ours, bare):
            check = httpx.post(
                f"http://127.0.0.1:{port}{path}",
                content=create_body(f"check-{port}", CREATE_PHONE),
                headers={
                    "Authorization": auth,
                    "Idempotency-Key": f"check-{port}",
                    "Content-Type": "application/json",
                },
            )
            assert check.status_code == 200, check.text
            assert check.json()["status"] == "processing", check.text

        # 1. create, closed loop: ours and the bare endpoint in turn.
        run = f"{int(time.time())}"
        for path, port, auth in (ours, bare):
            run_wrk(port, path, auth, WARMUP, f"warm-{run}-{port}")
        totals = {"ours": [0, 0.0, 0], "bare": [0, 0.0, 0]}
        spy = None
        for index in range(SLICES):
            for name, (path, port, auth) in (("ours", ours), ("bare", bare)):
                seconds = SECONDS / SLICES
                if PYSPY and name == "ours" and index == 0:
                    spy = profile(api.pid, seconds, PYSPY)
                measured = run_wrk(port, path, auth, seconds, f"{name}-{run}-{index}")
                totals[name][0] += measured["requests"]
                totals[name][1] += max(1, round(seconds))
                totals[name][2] += measured["non_2xx"]
                log(f"slice {index} {name}: {measured}")
        if spy is not None:
            spy.wait()
        create_rps = totals["ours"][0] / totals["ours"][1]
        raw_rps = totals["bare"][0] / totals["bare"][1]
        result |= {
            "create_rps": round(create_rps, 1),
            "raw_create_rps": round(raw_rps, 1),
            "create_ratio": round(create_rps / raw_rps, 3),
            "create_non_2xx": totals["ours"][2],
            "raw_create_non_2xx": totals["bare"][2],
        }

        # Open loop at half the measured maximum.
        rate = create_rps / 2
        paced = asyncio.run(open_loop(api_port, ours[0], ours[2], rate, SECONDS / 2, f"open-{run}"))
        log(f"open loop at {rate:.0f}/s: {paced}")
        result |= {
            "create_open_rate": round(rate, 1),
            "create_open_achieved_rps": paced["achieved_rps"],
            "create_p50_ms": paced["p50_ms"],
            "create_p99_ms": paced["p99_ms"],
            "create_open_failures": paced["failures"],
        }
        stop(raw)

        # 2. end to end. The create phase's jobs are not for the worker: mark them relayed.
        log(asyncio.run(execute(database_url, "UPDATE outbox SET relayed_at = now()")))
        asyncio.run(execute(database_url, "VACUUM ANALYZE"))
        for name in ("simulator", "worker", "scheduler"):
            processes.append(start([*mboa, name], env, name))
        wait_ready(f"http://127.0.0.1:{mtn_port}/_sim/health", processes[-3])
        time.sleep(3)  # the worker connects to Redis and PostgreSQL
        e2e = asyncio.run(
            end_to_end(
                api_port,
                f"Bearer {e2e_key}",
                database_url,
                e2e_merchant,
                f"e2e-{run}",
                processes[-2].pid,
            )
        )
        transactions = httpx.get(f"http://127.0.0.1:{mtn_port}/_sim/transactions", timeout=60)
        transactions.raise_for_status()
        body = transactions.json()
        items = body["data"] if isinstance(body, dict) else body
        truth = {t["id"]: t["state"] for t in items}
        verdict = judge(e2e["rows"], truth)
        result |= {
            "e2e_per_s": round(e2e["succeeded_in_window"] / e2e["window"], 1),
            "e2e_created": e2e["created"],
            "e2e_create_failures": e2e["create_failures"],
            "e2e_drained_in_s": e2e["drained_in_s"],
            **verdict,
        }
        for process in processes[::-1]:
            stop(process)
        result["verify_ok"] = asyncio.run(run_verify(settings, database_url))
        result["goals"] = GOALS
        result["machine"] = machine()
    finally:
        for process in processes[::-1]:
            stop(process)
        if servers is not None:
            servers.release()
    print(json.dumps(result), flush=True)
    if result.get("lost") or not result.get("verify_ok"):
        sys.exit(1)


if __name__ == "__main__":
    main()
