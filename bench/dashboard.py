"""Benchmark: the dashboard's payments list and CSV export on one merchant with 1,000,000
payment intents (`make bench-dashboard`, docs/benchmarks.md "Dashboard").

1. A fresh database (embedded PostgreSQL, profile `bench-dashboard`, or MBOA_BENCH_DATABASE_URL,
   an owner URL whose database is recreated), migrated; one merchant signed up through the users
   service; MBOA_BENCH_ROWS (1,000,000) payment intents COPYed in, spread over the last 365
   days (ids are ULIDs of their creation time, as the API writes them), varied statuses,
   operators, references and phone numbers; then ANALYZE.
2. `mboa api` (one worker, a real process on 127.0.0.1), signed in through the sign-in form:
   the session cookie is what a browser holds.
3. Through the real routes, 200 requests each (after 10 warm-up ones), one at a time:
   the payments list's first page, a deep keyset page (after the 900,000th newest), a filtered
   list (status + a 30-day range), a search by reference and a search by phone. `p95_ms` each;
   goal ≤ 100 ms.
4. EXPLAIN of each list's statement — the one `DashboardRepository.page_statement` builds from
   the same filters the page reads, with the same parameters — and of the export's SQL, on a
   tenant read connection (row-level security applies as in the request): the benchmark asserts
   every plan reads payment_intents through an index, never a Seq Scan.
5. The CSV export of every payment (`GET /dashboard/reports/export`), read as a browser does:
   `export_rows_per_s`, and the API process's peak RSS meanwhile (psutil, sampled every 20 ms,
   the process and its children); goal ≤ 200 MB.

The last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402

from bench.api_auth import free_port, start_server, stop, wait_ready  # noqa: E402
from bench.ledger import machine  # noqa: E402

ROWS = int(os.environ.get("MBOA_BENCH_ROWS", "1000000"))
REQUESTS = int(os.environ.get("MBOA_BENCH_REQUESTS", "200"))
WARMUP = 10
DATABASE = "mboa_bench_dashboard"
PASSWORD = "bench-password-1"
GOAL_P95_MS = 100.0
GOAL_RSS_MB = 200.0
DAYS = 365
STATUSES = (
    ("succeeded", 70),
    ("canceled", 12),
    ("requires_payment_method", 10),
    ("processing", 8),
)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def log(message: str) -> None:
    print(f"[bench-dashboard] {message}", file=sys.stderr, flush=True)


def ulid_at(ms: int, rng: random.Random) -> str:
    value = (ms << 80) | rng.getrandbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def phone_of(n: int) -> str:
    # 67x/69x numbers, distinct per row (a phone search finds one payer's payments).
    return f"+2376{7 if n % 2 else 9}{(n * 7919) % 10_000_000:07d}"


async def recreate(owner_url: str) -> None:
    from mboa.postgres import plain_url, with_database

    admin = await asyncpg.connect(plain_url(with_database(owner_url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()


async def seed(database_url: str) -> dict[str, Any]:
    """The merchant (through the users service) and its payment intents (COPY)."""
    from mboa.config import get_settings
    from mboa.postgres import Database, plain_url
    from mboa.users.service import user as user_service

    settings = get_settings()
    db = Database.connect(settings, database_url, process="bench")
    email = f"bench{int(time.time())}@mboa.cm"
    try:
        async with db.app_sessions() as session, session.begin():
            _, merchant, _ = await user_service.signup(
                session,
                email=email,
                password=PASSWORD,
                name=None,
                business_name="Boutique Mille Lignes",
                settings=settings.auth,
                jwt_secret=os.environ["MBOA_AUTH__JWT_SECRET"],
            )
    finally:
        await db.dispose()
    rng = random.Random(16)
    now = dt.datetime.now(dt.UTC)
    start_ms = int((now - dt.timedelta(days=DAYS)).timestamp() * 1000)
    step = (DAYS * 86_400_000 - 60_000) // ROWS
    statuses = [s for s, weight in STATUSES for _ in range(weight)]
    columns = (
        "id",
        "merchant_id",
        "livemode",
        "created_at",
        "amount",
        "currency",
        "reference",
        "status",
        "expires_at",
        "provider",
        "phone",
        "amount_received",
        "fee",
        "net",
        "amount_refunded",
        "refund_due",
        "succeeded_at",
        "metadata",
    )
    connection = await asyncpg.connect(plain_url(database_url))
    began = time.perf_counter()
    try:
        batch: list[tuple[Any, ...]] = []
        for n in range(ROWS):
            ms = start_ms + n * step + rng.randrange(step)
            created = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
            status = statuses[n % len(statuses)]
            amount = 500 + rng.randrange(200) * 250
            done = status == "succeeded"
            fee = (amount * 200 + 5_000) // 10_000 if done else 0
            batch.append(
                (
                    "pi_" + ulid_at(ms, rng),
                    merchant.id,
                    False,
                    created,
                    amount,
                    "XAF",
                    f"order-{n:07d}",
                    status,
                    created + dt.timedelta(minutes=15),
                    "mtn_momo" if n % 2 else "orange_money",
                    phone_of(n),
                    amount if done else 0,
                    fee,
                    amount - fee if done else 0,
                    0,
                    False,
                    created + dt.timedelta(seconds=20) if done else None,
                    "{}",
                )
            )
            if len(batch) == 100_000:
                await connection.copy_records_to_table(
                    "payment_intents", records=batch, columns=columns
                )
                batch.clear()
        if batch:
            await connection.copy_records_to_table(
                "payment_intents", records=batch, columns=columns
            )
        copied = time.perf_counter() - began
        await connection.execute("ANALYZE payment_intents")
        await connection.execute("VACUUM (ANALYZE) payment_intents")
        count = await connection.fetchval(
            "SELECT count(*) FROM payment_intents WHERE merchant_id = $1", merchant.id
        )
        assert count == ROWS, count
    finally:
        await connection.close()
    log(f"seeded {ROWS} payment intents in {copied:.1f} s (COPY), then ANALYZE")
    return {"merchant_id": merchant.id, "email": email, "seed_s": round(copied, 1)}


def sign_in(client: httpx.Client, email: str) -> None:
    page = client.get("/dashboard/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    response = client.post(
        "/dashboard/login",
        data={"csrf": token.group(1), "email": email, "password": PASSWORD, "next": "/dashboard"},
    )
    assert response.status_code == 303, response.text
    assert client.get("/dashboard/payments").status_code == 200


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1)


def timed(
    client: httpx.Client, queries: list[dict[str, str]], expect: str | None
) -> dict[str, Any]:
    """One request at a time: WARMUP unmeasured, then one per query."""
    for params in queries[:WARMUP]:
        assert client.get("/dashboard/payments", params=params).status_code == 200
    samples = []
    for params in queries[WARMUP:]:
        began = time.perf_counter()
        response = client.get("/dashboard/payments", params=params)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text[:500]
        if expect is not None:
            assert expect in response.text
    return {"p95_ms": p95(samples), "p50_ms": round(sorted(samples)[len(samples) // 2], 1)}


async def explain_all(
    database_url: str, merchant_id: str, cases: dict[str, dict[str, str]], export: tuple[Any, ...]
) -> dict[str, str]:
    """Each list's statement as the page builds it, and the export's SQL, EXPLAINed with the
    same parameters on a tenant read connection; returns each plan's access path to
    payment_intents and fails on a Seq Scan."""
    from sqlalchemy.dialects import postgresql

    from mboa.config import get_settings
    from mboa.dashboard.money_repository import export_parameters, export_sql
    from mboa.dashboard.pages import _filters
    from mboa.dashboard.repository import LIST_SETTINGS, DashboardRepository
    from mboa.dashboard.service import PAGE_SIZE
    from mboa.models import PaymentIntent
    from mboa.postgres import Database, TenantContext

    class Query:
        def __init__(self, params: dict[str, str]) -> None:
            self.query_params = params

    settings = get_settings()
    db = Database.connect(settings, database_url, process="bench")
    found: dict[str, str] = {}
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    tenant = TenantContext(merchant_id, False)
    try:
        statements: dict[str, tuple[str, list[Any], bool]] = {}
        for name, params in cases.items():
            filters, _shown = _filters(Query(params))  # type: ignore[arg-type]
            # A search's ids are found on a platform-role session with the tenant stated
            # (`DashboardRepository.payments_page`); the rows are then read by id.
            search = DashboardRepository.is_search(filters)
            statement = DashboardRepository(None).page_statement(  # type: ignore[arg-type]
                filters,
                after=params.get("after"),
                limit=PAGE_SIZE,
                customer_ids=[],  # `customers_matching` finds none here: no customers
                tenant=tenant if search else None,
            )
            if search:
                statement = statement.with_only_columns(PaymentIntent.id)
            compiled = statement.compile(dialect=dialect)
            values = [compiled.params[key] for key in compiled.positiontup or ()]
            statements[name] = (str(compiled), values, search)
        statements["export"] = (
            export_sql("payments"),
            list(export_parameters("payments", *export)),
            False,
        )
        async with db.tenant_reads(tenant) as reads, db.platform_sessions() as platform:
            raw = await (await platform.connection()).get_raw_connection()
            platform_connection = raw.driver_connection
            # The list's own settings (`repository.LIST_SETTINGS`), as in the request.
            await platform.execute(LIST_SETTINGS)
            await reads.execute(LIST_SETTINGS.text)
            for name, (sql, values, search) in statements.items():
                connection = platform_connection if search else reads
                plan = await connection.fetchval("EXPLAIN (FORMAT JSON) " + sql, *values)
                decoded = json.loads(plan) if isinstance(plan, str) else plan
                nodes = list(_nodes(decoded[0]["Plan"]))
                on_table = [n for n in nodes if n.get("Relation Name") == "payment_intents"]
                scans = sorted({n["Node Type"] for n in nodes if "Index" in n["Node Type"]})
                seq = [n for n in on_table if n["Node Type"] == "Seq Scan"]
                assert not seq, f"{name}: a Seq Scan on payment_intents\n{sql}\n{plan}"
                assert scans, f"{name}: no index in the plan\n{sql}\n{plan}"
                indexes = sorted({n["Index Name"] for n in nodes if n.get("Index Name")})
                found[name] = f"{'+'.join(scans)} ({', '.join(indexes)})"
    finally:
        await db.dispose()
    return found


def _nodes(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def export(client: httpx.Client, pid: int, start: str, end: str) -> dict[str, Any]:
    process = psutil.Process(pid)

    def rss() -> int:
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        return int(total)

    before = rss()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = 0
    size = 0
    began = time.perf_counter()
    first_byte = None
    with client.stream(
        "GET",
        "/dashboard/reports/export",
        params={"kind": "payments", "from": start, "to": end},
        timeout=600,
    ) as response:
        assert response.status_code == 200, response.read()[:500]
        assert response.headers.get("transfer-encoding") == "chunked"
        for chunk in response.iter_bytes():
            if first_byte is None:
                first_byte = time.perf_counter() - began
            lines += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    rows = lines - 1
    assert rows == ROWS, rows
    return {
        "export_rows": rows,
        "export_seconds": round(seconds, 2),
        "export_rows_per_s": round(rows / seconds),
        "export_mb": round(size / 1e6, 1),
        "export_first_byte_ms": round((first_byte or 0) * 1000, 1),
        "export_rss_before_mb": round(before / 1e6, 1),
        "export_peak_rss_mb": round(peak[0] / 1e6, 1),
    }


def main() -> None:
    os.environ.setdefault("MBOA_LOG__LEVEL", "WARNING")
    os.environ.setdefault("MBOA_AUTH__JWT_SECRET", "bench-jwt-secret-bench-jwt-secret")
    os.environ.setdefault("MBOA_DATA_DIR", str(ROOT / ".mboa"))
    os.environ.setdefault("MBOA_METRICS__ENABLED", "false")
    os.environ.setdefault("MBOA_RATE_LIMIT__TEST_PER_SECOND", "1000000")
    os.environ.setdefault("MBOA_RATE_LIMIT__ANONYMOUS_PER_MINUTE", "1000")
    from mboa.config import get_settings
    from mboa.dev.runtime import migrate
    from mboa.dev.servers import EmbeddedServers
    from mboa.postgres import with_database

    servers = None
    owner_url = os.environ.get("MBOA_BENCH_DATABASE_URL")
    redis_url = os.environ.get("MBOA_BENCH_REDIS_URL")
    if not owner_url or not redis_url:
        servers = EmbeddedServers.for_profile(get_settings().data_dir, "bench-dashboard")
        servers.acquire()
        owner_url = owner_url or servers.postgres.url
        redis_url = redis_url or servers.redis.url
    database_url = with_database(owner_url, DATABASE)
    api = None
    try:
        seeded = asyncio.run(reuse(database_url)) if os.environ.get("MBOA_BENCH_REUSE") else None
        if seeded is None:
            asyncio.run(recreate(owner_url))
            migrate(database_url)
            seeded = asyncio.run(seed(database_url))
        env = {**os.environ, "MBOA_DATABASE_URL": database_url, "MBOA_REDIS_URL": redis_url}
        port = free_port()
        api = start_server([sys.executable, "-m", "mboa", "api", "--workers", "1"], env, port)
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz")
        client = httpx.Client(base_url=base, timeout=60)
        sign_in(client, seeded["email"])

        # The cursors and needles, read from the data as a member would meet them.
        first = client.get("/dashboard/payments").text
        newest = re.findall(r'data-id="(pi_[0-9A-Z]+)"', first)
        assert len(newest) == 25, newest
        deep = asyncio.run(_nth_newest(database_url, 900_000))
        rng = random.Random(7)
        today = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        range_to = (today - dt.timedelta(days=60)).date()
        range_from = range_to - dt.timedelta(days=29)
        n = WARMUP + REQUESTS
        picks = [rng.randrange(ROWS) for _ in range(n)]
        cases = {
            "first_page": [{}] * n,
            "deep_page": [{"after": deep}] * n,
            "filtered": [
                {"status": "succeeded", "from": range_from.isoformat(), "to": range_to.isoformat()}
            ]
            * n,
            "search_reference": [{"q": f"order-{k:07d}"} for k in picks],
            "search_phone": [{"q": phone_of(k)[4:]} for k in picks],
        }
        expect = {"first_page": newest[0], "deep_page": None, "filtered": "data-id"}
        results: dict[str, Any] = {}
        load_before = os.getloadavg()[0]
        for name, queries in cases.items():
            measured = timed(client, queries, expect.get(name, "data-id"))
            results[f"{name}_p95_ms"] = measured["p95_ms"]
            results[f"{name}_p50_ms"] = measured["p50_ms"]
            log(f"{name}: p95 {measured['p95_ms']} ms, p50 {measured['p50_ms']} ms")

        start = (today - dt.timedelta(days=DAYS)).date().isoformat()
        end = today.date().isoformat()
        from mboa.dashboard.money_service import export_range

        bounds = export_range(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        plans = asyncio.run(
            explain_all(
                database_url,
                seeded["merchant_id"],
                {name: queries[WARMUP] for name, queries in cases.items()},
                bounds,
            )
        )
        for name, path in plans.items():
            log(f"EXPLAIN {name}: {path}")
        exported = export(client, api.pid, start, end)
        log(
            f"export: {exported['export_rows']} rows in {exported['export_seconds']} s,"
            f" peak RSS {exported['export_peak_rss_mb']} MB"
        )
        client.close()
        p95s = [v for k, v in results.items() if k.endswith("_p95_ms")]
        result: dict[str, Any] = {
            "benchmark": "dashboard",
            "rows": ROWS,
            "requests": REQUESTS,
            "seed_copy_s": seeded["seed_s"],
            **results,
            **exported,
            "plans": plans,
            "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "no_seq_scan": True,
            "goal_p95_ms": GOAL_P95_MS,
            "goal_rss_mb": GOAL_RSS_MB,
            "goals_met": max(p95s) <= GOAL_P95_MS and exported["export_peak_rss_mb"] <= GOAL_RSS_MB,
            "machine": machine(),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        print(json.dumps(result))
    finally:
        if api is not None:
            stop(api)
        if servers is not None:
            servers.release()


async def reuse(database_url: str) -> dict[str, Any] | None:
    """MBOA_BENCH_REUSE=1: the previous run's merchant and rows, when they are all there."""
    from mboa.postgres import plain_url

    try:
        connection = await asyncpg.connect(plain_url(database_url))
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        row = await connection.fetchrow(
            "SELECT m.merchant_id, u.email, (SELECT count(*) FROM payment_intents) AS n"
            " FROM merchant_members m JOIN users u ON u.id = m.user_id LIMIT 1"
        )
    except asyncpg.PostgresError:
        return None
    finally:
        await connection.close()
    if row is None or row["n"] != ROWS:
        return None
    log(f"reusing the {ROWS} payment intents of the previous run")
    return {"merchant_id": row["merchant_id"], "email": row["email"], "seed_s": None}


async def _nth_newest(database_url: str, n: int) -> str:
    from mboa.postgres import plain_url

    connection = await asyncpg.connect(plain_url(database_url))
    try:
        value = await connection.fetchval(
            "SELECT id FROM payment_intents ORDER BY id DESC OFFSET $1 LIMIT 1", n
        )
        return str(value)
    finally:
        await connection.close()


if __name__ == "__main__":
    main()
