"""Benchmark: webhook deliveries through the real pipeline (`make bench-webhooks`).

Co-located on this machine: PostgreSQL (embedded, `bench-webhooks` profile; or
MBOA_BENCH_DATABASE_URL, an owner URL whose database is recreated), Redis, `mboa api` (to create
the endpoints), `mboa worker` (relay + BullMQ), a local receiver (`RECEIVER_APP`: uvicorn,
answers 200 at once, checks every signature) and the load generators, all real processes.

1. **throughput**: MBOA_BENCH_EVENTS events, written by 4 connections two per statement as a
   payment's create writes them (the fan-out trigger adds one `webhooks.fan_out` job per
   statement), for a merchant with MBOA_BENCH_ENDPOINTS endpoints that take every event: each
   event becomes one delivery per endpoint, through fan-out job → outbox → relay → BullMQ →
   `webhooks.deliver` → POST. `deliveries_per_s` = deliveries / (last arrival - first write).
   In the same run, a bare httpx client posts the same bodies, signed the same way, to the
   same receiver with the same concurrency (the webhooks queue's 64 jobs at once):
   `bare_deliveries_per_s`, and `delivery_ratio` = ours / bare.
2. **latency**: another merchant with one endpoint; one event per transaction at a steady
   MBOA_BENCH_RATE (200/s) for MBOA_BENCH_SECONDS. `p99_first_attempt_ms`: from each event's
   commit (the writer's clock, right after COMMIT returns) to its first arrival at the receiver
   (same host, same clock).
3. **lost**: every (event, endpoint) of both phases must have arrived with a valid signature and
   end `succeeded` in `webhook_deliveries`; `lost` counts those that did not. `duplicates`
   counts extra arrivals (allowed by at-least-once, expected 0 in a clean run).

The last line printed is one JSON object. MBOA_BENCH_PYSPY=<file> records py-spy's raw stacks
of `mboa worker` during the throughput phase.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.payments import free_port, machine, profile, signup, stop, wait_ready  # noqa: E402
from mboa.config import get_settings  # noqa: E402
from mboa.dev.runtime import migrate  # noqa: E402
from mboa.dev.servers import EmbeddedServers  # noqa: E402
from mboa.events.schemas import as_object  # noqa: E402
from mboa.kit.ids import Prefix, new_id  # noqa: E402
from mboa.postgres import plain_url, with_database  # noqa: E402
from mboa.webhooks import signing  # noqa: E402

EVENTS = int(os.environ.get("MBOA_BENCH_EVENTS", "4000"))
ENDPOINTS = int(os.environ.get("MBOA_BENCH_ENDPOINTS", "8"))
CONCURRENCY = int(os.environ.get("MBOA_BENCH_CONCURRENCY", "64"))
RATE = float(os.environ.get("MBOA_BENCH_RATE", "200"))
SECONDS = float(os.environ.get("MBOA_BENCH_SECONDS", "30"))
DRAIN = float(os.environ.get("MBOA_BENCH_DRAIN", "120"))
PYSPY = os.environ.get("MBOA_BENCH_PYSPY")
DATABASE = "mboa_bench_webhooks"
GOALS = {"delivery_ratio": 0.5, "deliveries_per_s": 1500, "p99_first_attempt_ms": 1000, "lost": 0}

RECEIVER_APP = '''
"""The merchant's server: 200 at once; records each request and checks its signature."""
import base64
import hashlib
import hmac
import time

import orjson

keys = {}  # path -> key bytes
seen = []  # [path, webhook-id, arrival (time.time()), signature ok, body id == webhook-id]


def _ok(key, headers, body):
    signed = headers[b"webhook-id"] + b"." + headers[b"webhook-timestamp"] + b"." + body
    expected = b"v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    return any(hmac.compare_digest(expected, s) for s in headers[b"webhook-signature"].split())


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    answer = b"ok"
    if path == "/_keys":
        keys.update({p: base64.b64decode(k) for p, k in orjson.loads(body).items()})
    elif path == "/_seen":
        answer = orjson.dumps(seen)
        seen.clear()
    else:
        arrived = time.time()
        headers = dict(scope["headers"])
        webhook_id = headers.get(b"webhook-id", b"").decode()
        key = keys.get(path)
        ok = key is not None and _ok(key, headers, body)
        same = orjson.loads(body).get("id") == webhook_id
        seen.append([path, webhook_id, arrived, ok, same])
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": answer})
'''


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start(args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log_path = ROOT / ".mboa" / "bench-webhooks-logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as output:
        return subprocess.Popen(
            args, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


async def recreate(owner_url: str) -> None:
    admin = await asyncpg.connect(plain_url(with_database(owner_url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()


def create_endpoints(api: str, key: str, receiver: str, paths: list[str]) -> dict[str, str]:
    """Endpoints through the API; returns path → signing secret."""
    secrets = {}
    for path in paths:
        response = httpx.post(
            f"{api}/v1/webhook_endpoints",
            json={"url": f"{receiver}{path}", "enabled_events": ["*"]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        response.raise_for_status()
        secrets[path] = str(response.json()["secret"])
    return secrets


def tell_receiver(receiver: str, secrets: dict[str, str]) -> None:
    body = {p: base64.b64encode(signing.secret_key(s)).decode() for p, s in secrets.items()}
    httpx.post(f"{receiver}/_keys", json=body, timeout=30).raise_for_status()


def seen(receiver: str) -> list[list[Any]]:
    response = httpx.post(f"{receiver}/_seen", timeout=120)
    response.raise_for_status()
    return list(orjson.loads(response.content))


def snapshot(number: int) -> dict[str, Any]:
    return {
        "id": new_id(Prefix.payment_intent),
        "object": "payment_intent",
        "amount": 1500 + number,
        "currency": "XAF",
        "status": "succeeded",
        "reference": f"order-{number}",
        "metadata": {},
    }


INSERT = (
    "INSERT INTO events (id, merchant_id, livemode, type, object_id, data, created_at)"
    " SELECT i, $2, false, 'payment_intent.succeeded', o, jsonb_build_object('object', d),"
    " now() FROM unnest($1::text[], $3::text[], $4::jsonb[]) AS u(i, o, d)"
)


async def write_events(database_url: str, merchant_id: str, count: int) -> tuple[list[str], float]:
    """`count` events, two per statement and transaction, on 4 connections, as fast as they
    go; returns their ids and when writing started (time.time())."""
    pool = await asyncpg.create_pool(plain_url(database_url), min_size=4, max_size=4)
    ids: list[str] = []
    started = time.time()
    try:

        async def writer(part: range) -> None:
            async with pool.acquire() as connection:
                for first in part[::2]:
                    objects = [snapshot(n) for n in range(first, min(first + 2, part.stop))]
                    batch = [new_id(Prefix.event) for _ in objects]
                    await connection.execute(
                        INSERT,
                        batch,
                        merchant_id,
                        [o["id"] for o in objects],
                        [orjson.dumps(o).decode() for o in objects],
                    )
                    ids.extend(batch)

        quarter = (count + 3) // 4
        await asyncio.gather(
            *(writer(range(q, min(q + quarter, count))) for q in range(0, count, quarter))
        )
    finally:
        await pool.close()
    return ids, started


async def paced_events(
    database_url: str, merchant_id: str, rate: float, seconds: float
) -> dict[str, float]:
    """One event per transaction at `rate` per second (8 connections); returns event id →
    commit time (time.time() right after the INSERT's implicit commit returned)."""
    pool = await asyncpg.create_pool(plain_url(database_url), min_size=8, max_size=8)
    committed: dict[str, float] = {}
    queue: asyncio.Queue[int | None] = asyncio.Queue()

    async def writer() -> None:
        async with pool.acquire() as connection:
            while (number := await queue.get()) is not None:
                event_id, obj = new_id(Prefix.event), snapshot(number)
                await connection.execute(
                    INSERT, [event_id], merchant_id, [obj["id"]], [orjson.dumps(obj).decode()]
                )
                committed[event_id] = time.time()

    try:
        writers = [asyncio.create_task(writer()) for _ in range(8)]
        begin = time.perf_counter()
        for number in range(int(rate * seconds)):
            delay = begin + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(number)
        for _ in writers:
            queue.put_nowait(None)
        await asyncio.gather(*writers)
    finally:
        await pool.close()
    return committed


async def wait_delivered(owner_url: str, merchant_id: str, expected: int, within: float) -> float:
    """Waits until `expected` deliveries of the merchant are no longer pending, or until none
    has been finished for `within` seconds: a slow host takes longer to drain 32 000
    deliveries, and only a pipeline that stopped moving counts what is left as lost."""
    owner = await asyncpg.connect(plain_url(owner_url))
    deadline = time.monotonic() + within
    finished = -1
    try:
        while time.monotonic() < deadline:
            done = await owner.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE merchant_id = $1"
                " AND status <> 'pending'",
                merchant_id,
            )
            if done >= expected:
                return time.monotonic()
            if done > finished:
                finished = done
                deadline = time.monotonic() + within
            await asyncio.sleep(0.2)
    finally:
        await owner.close()
    return time.monotonic()


async def delivery_states(owner_url: str, merchant_id: str) -> dict[tuple[str, str], str]:
    owner = await asyncpg.connect(plain_url(owner_url))
    try:
        rows = await owner.fetch(
            "SELECT d.event_id, w.url, d.status, d.attempt_count FROM webhook_deliveries d"
            " JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.merchant_id = $1",
            merchant_id,
        )
    finally:
        await owner.close()
    return {
        (r["event_id"], httpx.URL(r["url"]).path): f"{r['status']}/{r['attempt_count']}"
        for r in rows
    }


async def bodies(owner_url: str, event_ids: list[str]) -> list[tuple[str, bytes]]:
    """The events' bodies as the worker renders them (the API's event object; one delivery of
    each still pending at its attempt)."""
    owner = await asyncpg.connect(plain_url(owner_url))
    try:
        rows = await owner.fetch(
            "SELECT id, type, livemode, created_at, data, sequence, request_id,"
            " idempotency_key FROM events WHERE id = ANY($1::text[])",
            event_ids,
        )
    finally:
        await owner.close()
    rendered = []
    for row in rows:
        record = dict(row)
        record["data"] = orjson.loads(record["data"])
        rendered.append((row["id"], as_object(record, 1).model_dump_json().encode()))
    return rendered


async def bare_client(
    receiver: str, secrets: dict[str, str], events: list[tuple[str, bytes]]
) -> tuple[int, float, float]:
    """The same signed bodies to the same receiver, CONCURRENCY at once, each signed at its
    send as the worker signs; returns (deliveries, started, last answer) in time.time()."""
    jobs: asyncio.Queue[tuple[str, str, bytes] | None] = asyncio.Queue()
    for event_id, body in events:
        for path in secrets:
            jobs.put_nowait((path, event_id, body))
    for _ in range(CONCURRENCY):
        jobs.put_nowait(None)
    done = 0
    last = 0.0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=10, trust_env=False) as client:

        async def poster() -> None:
            nonlocal done, last
            while (job := await jobs.get()) is not None:
                path, event_id, body = job
                headers = signing.headers(
                    [secrets[path]], msg_id=event_id, timestamp=int(time.time()), body=body
                )
                response = await client.post(
                    f"{receiver}{path}",
                    content=body,
                    headers={
                        **headers,
                        "content-type": "application/json",
                        "user-agent": "MboaPay-Webhooks/1.0",
                    },
                )
                if 200 <= response.status_code < 300:
                    done += 1
                last = time.time()

        started = time.time()
        await asyncio.gather(*(poster() for _ in range(CONCURRENCY)))
    return done, started, last


def judge(
    arrivals: list[list[Any]],
    expected: set[tuple[str, str]],
    states: dict[tuple[str, str], str],
) -> dict[str, int]:
    counts: dict[tuple[str, str], int] = {}
    bad = 0
    for path, webhook_id, _, ok, same in arrivals:
        counts[(webhook_id, path)] = counts.get((webhook_id, path), 0) + 1
        bad += not (ok and same)
    missing = sum(1 for pair in expected if pair not in counts)
    not_succeeded = sum(1 for pair in expected if not states.get(pair, "").startswith("succeeded"))
    return {
        "missing": missing,
        "bad_signature": bad,
        "not_succeeded": not_succeeded,
        "unexpected": sum(1 for pair in counts if pair not in expected),
        "duplicates": sum(n - 1 for n in counts.values()),
        "lost": missing + bad + not_succeeded,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)


def main() -> None:
    os.environ.setdefault("MBOA_LOG__LEVEL", "INFO")
    os.environ.setdefault("MBOA_RATE_LIMIT__TEST_PER_SECOND", "1000000")
    os.environ.setdefault("MBOA_AUTH__JWT_SECRET", "bench-jwt-secret-bench-jwt-secret")
    os.environ.setdefault("MBOA_DATA_DIR", str(ROOT / ".mboa"))
    settings = get_settings()
    servers = None
    owner = os.environ.get("MBOA_BENCH_DATABASE_URL")
    redis_url = os.environ.get("MBOA_BENCH_REDIS_URL")
    if not owner or not redis_url:
        servers = EmbeddedServers.for_profile(settings.data_dir, "bench-webhooks")
        servers.acquire()
        owner = owner or servers.postgres.url
        redis_url = redis_url or servers.redis.url
    database_url = with_database(owner, DATABASE)
    processes: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {"benchmark": "webhooks", "events": EVENTS, "endpoints": ENDPOINTS}
    try:
        asyncio.run(recreate(owner))
        migrate(database_url)
        bulk_merchant, bulk_key = asyncio.run(signup(settings, database_url, "bulk"))
        paced_merchant, paced_key = asyncio.run(signup(settings, database_url, "paced"))
        api_port, receiver_port = free_port(), free_port()
        env = {
            **os.environ,
            "MBOA_DATABASE_URL": database_url,
            "MBOA_REDIS_URL": redis_url,
            "MBOA_API__PORT": str(api_port),
            "MBOA_METRICS__ENABLED": "false",
        }
        receiver_dir = ROOT / ".mboa" / "bench-webhooks-receiver"
        receiver_dir.mkdir(parents=True, exist_ok=True)
        (receiver_dir / "receiver_app.py").write_text(RECEIVER_APP)
        receiver_process = start(
            [
                *(sys.executable, "-m", "uvicorn", "receiver_app:app"),
                *("--app-dir", str(receiver_dir), "--host", "127.0.0.1"),
                *("--port", str(receiver_port), "--loop", "uvloop", "--http", "httptools"),
                *("--no-access-log", "--log-level", "warning", "--lifespan", "off"),
                *("--backlog", "4096"),
            ],
            env,
            "receiver",
        )
        processes.append(receiver_process)
        mboa = [sys.executable, "-m", "mboa"]
        api = start([*mboa, "api", "--workers", "1", "--port", str(api_port)], env, "api")
        processes.append(api)
        receiver = f"http://127.0.0.1:{receiver_port}"
        api_url = f"http://127.0.0.1:{api_port}"
        wait_ready(f"{receiver}/_seen", receiver_process)
        wait_ready(f"{api_url}/readyz", api)
        paths = [f"/ours/{n}" for n in range(ENDPOINTS)]
        secrets = create_endpoints(api_url, bulk_key, receiver, paths)
        paced_secrets = create_endpoints(api_url, paced_key, receiver, ["/paced"])
        bare_secrets = {f"/bare/{n}": secrets[p] for n, p in enumerate(paths)}
        tell_receiver(receiver, {**secrets, **paced_secrets, **bare_secrets})
        worker = start([*mboa, "worker"], env, "worker")
        processes.append(worker)
        time.sleep(3)  # the worker connects to Redis and PostgreSQL

        # Warm-up: a few events through everything (connections, caches), not counted.
        warm, _ = asyncio.run(write_events(database_url, bulk_merchant, 40))
        asyncio.run(wait_delivered(database_url, bulk_merchant, 40 * ENDPOINTS, DRAIN))
        seen(receiver)

        # 1. throughput: ours.
        spy = profile(worker.pid, 20, PYSPY) if PYSPY else None
        event_ids, began = asyncio.run(write_events(database_url, bulk_merchant, EVENTS))
        total = (EVENTS + len(warm)) * ENDPOINTS
        asyncio.run(wait_delivered(database_url, bulk_merchant, total, DRAIN))
        if spy is not None:
            spy.wait()
        arrivals = seen(receiver)
        ours = [a for a in arrivals if a[0].startswith("/ours/")]
        last = max((a[2] for a in ours), default=began)
        ours_per_s = len(ours) / (last - began)
        states = asyncio.run(delivery_states(database_url, bulk_merchant))
        expected = {(e, p) for e in event_ids for p in paths}
        verdict = judge(ours, expected, states)
        log(f"ours: {len(ours)} deliveries in {last - began:.2f} s: {verdict}")

        # 1b. the bare client: the same bodies, to the same receiver, same concurrency.
        rendered = asyncio.run(bodies(database_url, event_ids))
        done, bare_began, bare_last = asyncio.run(bare_client(receiver, bare_secrets, rendered))
        bare_per_s = done / (bare_last - bare_began)
        bare_arrivals = seen(receiver)
        bad_bare = sum(1 for a in bare_arrivals if not (a[3] and a[4]))
        log(f"bare: {done} deliveries in {bare_last - bare_began:.2f} s, {bad_bare} bad")
        result |= {
            "deliveries_per_s": round(ours_per_s, 1),
            "bare_deliveries_per_s": round(bare_per_s, 1),
            "delivery_ratio": round(ours_per_s / bare_per_s, 3),
            "concurrency": CONCURRENCY,
        }

        # 2. latency at a steady rate.
        committed = asyncio.run(paced_events(database_url, paced_merchant, RATE, SECONDS))
        asyncio.run(wait_delivered(database_url, paced_merchant, len(committed), DRAIN))
        paced = [a for a in seen(receiver) if a[0] == "/paced"]
        first: dict[str, float] = {}
        for _, webhook_id, arrived, _, _ in paced:
            first[webhook_id] = min(arrived, first.get(webhook_id, arrived))
        waits = [(first[e] - t) * 1000 for e, t in committed.items() if e in first]
        paced_states = asyncio.run(delivery_states(database_url, paced_merchant))
        paced_verdict = judge(paced, {(e, "/paced") for e in committed}, paced_states)
        log(f"paced: {len(committed)} events at {RATE}/s: {paced_verdict}")
        result |= {
            "rate": RATE,
            "paced_events": len(committed),
            "p50_first_attempt_ms": percentile(waits, 0.50) if waits else None,
            "p99_first_attempt_ms": percentile(waits, 0.99) if waits else None,
            "max_first_attempt_ms": round(max(waits), 1) if waits else None,
        }
        result |= {
            key: verdict[key] + paced_verdict[key]
            for key in ("missing", "bad_signature", "not_succeeded", "unexpected", "duplicates")
        }
        result["lost"] = verdict["lost"] + paced_verdict["lost"]
        result["bare_bad"] = bad_bare
        result["goals"] = GOALS
        result["machine"] = machine()
    finally:
        for process in processes[::-1]:
            stop(process)
        if servers is not None:
            servers.release()
    print(json.dumps(result), flush=True)
    if result.get("lost") != 0:
        sys.exit(1)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
