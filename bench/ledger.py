"""Ledger throughput benchmark (`make bench-ledger`), docs/benchmarks.md "Ledger".

Scenarios, each measured for MBOA_BENCH_SECONDS (default 20) after a warm-up, in MBOA_BENCH_SLICES
(default 4) slices taken in turn with its raw counterpart (service, raw, service, raw, …):
  L1  one transfer per database transaction, uniform random accounts
  L2  every transfer touches one hot account (fee revenue: 32 shards, picked per connection)
  L3  batched ingestion: MBOA_BENCH_BATCH (default 1000) transfers per call, one result per item
and, in the same run, the raw limit of the same transfers:
  raw_l1      pgbench (C client) calling the same SQL function with the same shape of transfer
  raw_*_asyncpg  bare asyncpg with pre-built arguments (no Posting objects, no hashing)
  floor_l1, floor_l3  the host's floor: pgbench writing the same rows (header, two entries with
              their version chain, two balances) to bare tables of their own, with none of the
              ledger's rules, one transfer or BATCH transfers per transaction (FLOOR_TABLES)
then `ledger verify`. The last line of output is one JSON object.

PostgreSQL: the embedded server of the `bench` profile (fsync and synchronous_commit on) unless
MBOA_BENCH_DATABASE_URL points to another (owner URL; the database is recreated).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mboa.config import Settings  # noqa: E402
from mboa.dev.runtime import migrate  # noqa: E402
from mboa.dev.servers import EmbeddedServers, pg_bin_dir  # noqa: E402
from mboa.kit.ids import new_id  # noqa: E402
from mboa.kit.memory import freeze_startup_objects  # noqa: E402
from mboa.ledger.accounts import (  # noqa: E402
    HOT_SHARDS,
    AccountKey,
    AccountKind,
    platform_account,
    shards_of,
)
from mboa.ledger.posting import Leg, Posting, SourceType  # noqa: E402
from mboa.ledger.verify import verify  # noqa: E402
from mboa.ledger.write_repository import (  # noqa: E402
    APPLY_SQL,
    TRANSFER_SQL,
    ConnectionExecutor,
    apply,
    open_accounts,
)
from mboa.postgres import Database, plain_url, role_urls, with_database  # noqa: E402

SECONDS = float(os.environ.get("MBOA_BENCH_SECONDS", "20"))
WARMUP = float(os.environ.get("MBOA_BENCH_WARMUP", str(min(5.0, SECONDS / 4))))
SLICES = int(os.environ.get("MBOA_BENCH_SLICES", "4"))
SLICE_WARMUP = 1.0
CONNECTIONS = int(os.environ.get("MBOA_BENCH_CONNECTIONS", "16"))
BATCH = int(os.environ.get("MBOA_BENCH_BATCH", "1000"))
BATCH_CONNECTIONS = int(os.environ.get("MBOA_BENCH_BATCH_CONNECTIONS", "2"))
ACCOUNTS = int(os.environ.get("MBOA_BENCH_ACCOUNTS", "100000"))
PATHS = os.environ.get("MBOA_BENCH_PATHS") == "1"
PATHS_ROUNDS = int(os.environ.get("MBOA_BENCH_PATHS_ROUNDS", "3"))
DATABASE = "mboa_bench_ledger"
# Checkpoint spacing as on a write-heavy production server. With PostgreSQL's default 1 GB
# max_wal_size a checkpoint came every ~11 s here, and after each one the first write to every
# account and index page logs the whole page again (full-page images were over half the WAL
# bytes). Durability is unchanged: fsync and synchronous_commit stay on.
BENCH_PG_CONF = {"max_wal_size": "8GB", "checkpoint_timeout": "15min"}
RAW_ID_BASE = 1_000_000_000  # ids of the accounts pgbench and the raw client use
HOT_RAW_BASE = 2_000_000_000


def log(message: str) -> None:
    print(message, flush=True)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory.splitlines()[1].split()[1] if memory else "?",
        "python": platform.python_version(),
    }


class Counter:
    def __init__(self) -> None:
        self.done = 0
        self.refused = 0


Step = Callable[[asyncpg.Connection, Counter], Awaitable[None]]


class Scenario:
    """One scenario, measured in slices: its connections stay open between slices."""

    def __init__(self, name: str, workers: int, step: Step) -> None:
        self.name, self.workers, self.step = name, workers, step
        self.counter = Counter()
        self.connections: list[asyncpg.Connection] = []
        self.done = 0
        self.elapsed = 0.0

    async def open(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        self.connections = [await connect() for _ in range(self.workers)]

    async def close(self) -> None:
        for connection in self.connections:
            await connection.close()
        if self.counter.refused:
            raise SystemExit(f"{self.name}: {self.counter.refused} transfers were refused")

    async def slice(self, warmup: float, seconds: float) -> None:
        """Run every connection for `warmup`, then count what completes in `seconds`."""
        stop = False

        async def worker(connection: asyncpg.Connection) -> None:
            while not stop:
                await self.step(connection, self.counter)

        tasks = [asyncio.create_task(worker(c)) for c in self.connections]
        await asyncio.sleep(warmup)
        start_count, start = self.counter.done, time.perf_counter()
        await asyncio.sleep(seconds)
        self.done += self.counter.done - start_count
        self.elapsed += time.perf_counter() - start
        stop = True
        await asyncio.gather(*tasks)

    @property
    def tps(self) -> float:
        return self.done / self.elapsed


async def run_interleaved(
    connect: Callable[[], Awaitable[asyncpg.Connection]], *scenarios: Scenario
) -> list[float]:
    """Measure each scenario for SECONDS in all, in SLICES slices taken in turn (A B A B …).

    The host is shared: a burst of someone else's load lasting tens of seconds would land on one
    scenario of a pair if each ran in one block, and skew the ratio between them. In turns, it
    lands on both alike. Each scenario gets the full warm-up before its first slice, and
    SLICE_WARMUP before each later one (its connections and prepared statements stay open).
    """
    for scenario in scenarios:
        await scenario.open(connect)
    for turn in range(SLICES):
        for scenario in scenarios:
            await scenario.slice(WARMUP if turn == 0 else SLICE_WARMUP, SECONDS / SLICES)
    for scenario in scenarios:
        await scenario.close()
        log(
            f"{scenario.name:<22} {scenario.tps:>10,.0f} transfers/s  ({scenario.done:,} in"
            f" {scenario.elapsed:.1f} s, {SLICES} slices, {scenario.workers} conn)"
        )
    return [scenario.tps for scenario in scenarios]


def general(i: int) -> AccountKey:
    return AccountKey(f"bench_{i}", False, "XAF", AccountKind.general)


def posting_between(debit: AccountKey, credit: AccountKey, amount: int) -> Posting:
    return Posting(
        # Shaped like the platform's own keys (`settle:txn_…`, `payment:pi_…:…`): a ULID, so
        # time-ordered like the raw client's keys. Random keys scatter inserts over the whole
        # unique index (measured: 4 to 9 % slower).
        idempotency_key=f"bench:{new_id('op')}",
        type=SourceType.transfer,
        currency="XAF",
        livemode=False,
        legs=[Leg(debit, -amount), Leg(credit, amount)],
    )


def pair() -> tuple[int, int]:
    a = random.randrange(ACCOUNTS)
    b = random.randrange(ACCOUNTS - 1)
    return a, b + 1 if b >= a else b


# ── the service path (what the platform calls) ──────────────────────────────────────────────


async def l1_step(connection: asyncpg.Connection, counter: Counter) -> None:
    a, b = pair()
    [result] = await apply(
        ConnectionExecutor(connection), [posting_between(general(a), general(b), 100)]
    )
    counter.done += 1
    counter.refused += not result.ok


HOT = platform_account(AccountKind.fee_revenue, False, "XAF")


async def touch_every_account(connection: asyncpg.Connection) -> int:
    """One transfer per pair of accounts (service and raw), in batches: after the CHECKPOINT that
    ends `prepare`, the first write to each page logs a full-page image, which would otherwise
    land on whichever scenario runs first. Returns the number of transfers written."""
    executor = ConnectionExecutor(connection)
    pairs = [(i, i + 1) for i in range(0, ACCOUNTS - 1, 2)]
    for start in range(0, len(pairs), BATCH):
        chunk = pairs[start : start + BATCH]
        results = await apply(
            executor, [posting_between(general(a), general(b), 100) for a, b in chunk]
        )
        if not all(result.ok for result in results):
            raise SystemExit("warm-up: a transfer was refused")
        raw = [(RAW_ID_BASE + a, RAW_ID_BASE + b) for a, b in chunk]
        await connection.fetch(APPLY_SQL, *raw_args(raw))
    for shard in range(HOT_SHARDS):
        await connection.fetch(TRANSFER_SQL, *raw_transfer_args(RAW_ID_BASE, HOT_RAW_BASE + shard))
    return 2 * len(pairs) + HOT_SHARDS


async def l2_step(connection: asyncpg.Connection, counter: Counter) -> None:
    [result] = await apply(
        ConnectionExecutor(connection),
        [posting_between(general(random.randrange(ACCOUNTS)), HOT, 100)],
    )
    counter.done += 1
    counter.refused += not result.ok


async def l3_step(connection: asyncpg.Connection, counter: Counter) -> None:
    postings = []
    for _ in range(BATCH):
        a, b = pair()
        postings.append(posting_between(general(a), general(b), 100))
    results = await apply(ConnectionExecutor(connection), postings)
    counter.done += len(results)
    counter.refused += sum(1 for r in results if not r.ok)


# ── the raw limit: the same function call, arguments built with no ledger code ─────────────


def raw_id_and_key() -> tuple[str, str]:
    """A transaction id and an idempotency key shaped like the service path's (`txn_` + ULID,
    `bench:op_` + ULID): the same B-tree inserts at the same place, so the raw client differs
    from the service path only by the ledger's Python code. (Counter-based ids sorted after every
    ULID, so raw inserts took the cheap rightmost-page splits while the service's, in the middle
    of the index, split pages in half.)"""
    return new_id("txn"), f"bench:{new_id('op')}"


def raw_args(pairs: list[tuple[int, int]]) -> list[Any]:
    """Arguments for `mboa_ledger_apply` with transfers between raw account ids."""
    accounts = sorted({x for p in pairs for x in p})
    index = {account: i for i, account in enumerate(accounts, 1)}
    n = len(pairs)
    ids, keys = [], []
    for _ in range(n):
        txn, key = raw_id_and_key()
        ids.append(txn)
        keys.append(key)
    nulls: list[Any] = [None] * n
    e_item, e_acct, e_amount = [], [], []
    for item, (debit, credit) in enumerate(pairs, 1):
        e_item += [item, item]
        e_acct += [index[debit], index[credit]]
        e_amount += [-100, 100]
    return [
        accounts, ids, keys, [b"\0" * 16] * n, ["transfer"] * n, nulls, nulls, [False] * n,
        ["XAF"] * n, ["posted"] * n, nulls, nulls, nulls, nulls, nulls, nulls, nulls, nulls,
        nulls, nulls, e_item, e_acct, [0] * (2 * n), e_amount,
    ]  # fmt: skip


def raw_pair() -> tuple[int, int]:
    a, b = pair()
    return RAW_ID_BASE + a, RAW_ID_BASE + b


def raw_transfer_args(debit: int, credit: int) -> list[Any]:
    """Arguments for `mboa_ledger_write_transfer` (the one-statement path L1 and L2 take)."""
    txn, key = raw_id_and_key()
    accounts, amounts = (
        ([debit, credit], [-100, 100]) if debit < credit else ([credit, debit], [100, -100])
    )
    return [
        accounts, txn, key, b"\0" * 16, "transfer", None, None, False, "XAF", "posted",
        None, None, None, None, None, None, [0, 0], amounts,
    ]  # fmt: skip


async def raw_l1_step(connection: asyncpg.Connection, counter: Counter) -> None:
    rows = await connection.fetch(TRANSFER_SQL, *raw_transfer_args(*raw_pair()))
    counter.done += 1
    counter.refused += rows[0][0][0] != "created"


async def raw_l1_apply_step(connection: asyncpg.Connection, counter: Counter) -> None:
    """L1 through `mboa_ledger_apply` with one posting (MBOA_BENCH_PATHS=1)."""
    rows = await connection.fetch(APPLY_SQL, *raw_args([raw_pair()]))
    counter.done += 1
    counter.refused += rows[0][1] != "created"


async def raw_l2_step(connection: asyncpg.Connection, counter: Counter) -> None:
    hot = HOT_RAW_BASE + connection.get_server_pid() % 32
    args = raw_transfer_args(RAW_ID_BASE + random.randrange(ACCOUNTS), hot)
    rows = await connection.fetch(TRANSFER_SQL, *args)
    counter.done += 1
    counter.refused += rows[0][0][0] != "created"


async def raw_l3_step(connection: asyncpg.Connection, counter: Counter) -> None:
    rows = await connection.fetch(APPLY_SQL, *raw_args([raw_pair() for _ in range(BATCH)]))
    counter.done += len(rows)
    counter.refused += sum(1 for row in rows if row[1] != "created")


# pgbench cannot make ULIDs: its random ids and keys carry prefixes that sort before every ULID
# (`txn_00` + md5, `0pgb:` + uuid), so its scattered inserts stay out of the way of the
# time-ordered ones. A refused transfer divides by zero, which aborts the client and fails the run.
PGBENCH_L1 = """\\set a random(0, {last})
\\set b random(0, {last_but_one})
\\set b CASE WHEN :b >= :a THEN :b + 1 ELSE :b END
\\set lo {base} + least(:a, :b)
\\set hi {base} + greatest(:a, :b)
SELECT 1 / ((mboa_ledger_write_transfer(ARRAY[:lo, :hi]::bigint[], \
 'txn_00' || md5(random()::text), '0pgb:' || gen_random_uuid()::text, \
 '\\x00000000000000000000000000000000'::bytea, 'transfer', NULL, NULL, false, 'XAF', 'posted', \
 NULL, NULL, NULL, NULL, NULL, NULL, ARRAY[0, 0]::smallint[], ARRAY[-100, 100]::bigint[]))[1]\
 = 'created')::integer;
"""


# The host's floor: the least a double-entry write with a per-account version chain can do in one
# durable transaction (lock two accounts in id order, insert a header with a unique key, insert
# two entries carrying balance_after and version, update the two balances), on bare tables of
# its own: no CHECK, no domain, no function, no verdict, no idempotency look-up, one index per
# table beyond the keys. What the ledger adds on top is its rules; how far the host lets any
# ledger go is this number. Its accounts are FLOOR_TABLES' own, ids 0 … ACCOUNTS - 1.
FLOOR_TABLES = (
    "CREATE SCHEMA bench_floor",
    "CREATE TABLE bench_floor.accounts (id bigint PRIMARY KEY, balance bigint NOT NULL,"
    " version bigint NOT NULL)",
    "CREATE TABLE bench_floor.transactions (id text PRIMARY KEY, idempotency_key text UNIQUE,"
    " created_at timestamptz NOT NULL)",
    "CREATE TABLE bench_floor.entries (account_id bigint, version bigint, transaction_id text,"
    " amount bigint NOT NULL, balance_after bigint NOT NULL, PRIMARY KEY (account_id, version))",
)
PGBENCH_FLOOR = """\\set a random(0, {last_but_one})
\\set b random(:a + 1, {last})
WITH chain AS MATERIALIZED (
  SELECT a.id, a.version + 1 AS version, x.amount, a.balance + x.amount AS balance_after
  FROM bench_floor.accounts a
  JOIN (VALUES (:a::bigint, -100::bigint), (:b::bigint, 100::bigint)) x(id, amount) ON x.id = a.id
  ORDER BY a.id FOR NO KEY UPDATE OF a
), header AS (
  INSERT INTO bench_floor.transactions
  VALUES ('txn_00' || md5(random()::text), '0pgb:' || gen_random_uuid()::text, clock_timestamp())
  RETURNING id
), entries AS (
  INSERT INTO bench_floor.entries
  SELECT c.id, c.version, h.id, c.amount, c.balance_after FROM header h, chain c
)
UPDATE bench_floor.accounts AS acc SET balance = c.balance_after, version = c.version
  FROM chain c WHERE acc.id = c.id;
"""

# The same floor for L3: BATCH transfers between random pairs in one statement, as set-based as
# the ledger's own batch path (lock every account in id order, number each account's versions
# through the batch, write the headers and entries, set each account's final balance).
PGBENCH_FLOOR_BATCH = """WITH items AS (
  SELECT g AS item, 'txn_00' || md5(random()::text) AS txn, a,
         a + 1 + floor(random() * ({last} - a))::bigint AS b
  FROM (SELECT g, floor(random() * {last})::bigint AS a FROM generate_series(1, {batch}) g) s
), legs AS (
  SELECT item, txn, a AS account_id, -100::bigint AS amount FROM items
  UNION ALL SELECT item, txn, b, 100 FROM items
), locked AS MATERIALIZED (
  SELECT id, balance, version FROM bench_floor.accounts
  WHERE id IN (SELECT account_id FROM legs) ORDER BY id FOR NO KEY UPDATE
), chain AS MATERIALIZED (
  SELECT l.item, l.txn, l.account_id, l.amount,
         k.version + row_number() OVER w AS version,
         k.balance + sum(l.amount) OVER w AS balance_after
  FROM legs l JOIN locked k ON k.id = l.account_id
  WINDOW w AS (PARTITION BY l.account_id ORDER BY l.item)
), header AS (
  INSERT INTO bench_floor.transactions
  SELECT txn, '0pgb:' || gen_random_uuid()::text, clock_timestamp() FROM items
), entries AS (
  INSERT INTO bench_floor.entries SELECT account_id, version, txn, amount, balance_after FROM chain
)
UPDATE bench_floor.accounts AS acc SET balance = f.balance_after, version = f.version
  FROM (SELECT DISTINCT ON (account_id) account_id, version, balance_after FROM chain
        ORDER BY account_id, version DESC) f
  WHERE acc.id = f.account_id;
"""


async def create_floor_tables(owner: asyncpg.Connection, platform_role: str, count: int) -> None:
    for statement in FLOOR_TABLES:
        await owner.execute(statement)
    await owner.execute(
        "INSERT INTO bench_floor.accounts SELECT g, 0, 0 FROM generate_series(0, $1::integer - 1) g",
        count,
    )
    await owner.execute(f'GRANT USAGE ON SCHEMA bench_floor TO "{platform_role}"')
    await owner.execute(
        f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA bench_floor TO "{platform_role}"'
    )


class Pgbench(Scenario):
    """pgbench (a C client) running one script, in slices like the others: each slice is one
    pgbench run over fresh connections."""

    def __init__(
        self, name: str, url: str, clients: int, script: str, transfers_per_call: int = 1
    ) -> None:
        # The step is unused: pgbench, not this process, runs the transfers (see `slice`).
        super().__init__(name, clients, raw_l1_step)
        self.url = url
        self.transfers_per_call = transfers_per_call
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
            handle.write(script)
        os.chmod(handle.name, 0o644)  # pgbench may run as the server's user
        self.script = handle.name

    async def open(self, connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
        pass

    async def close(self) -> None:
        os.unlink(self.script)

    async def slice(self, warmup: float, seconds: float) -> None:
        # pgbench reports its progress every second (`-P 1`); only the seconds after the warm-up
        # are counted, as for the other clients.
        measured = max(1, round(seconds))
        duration = max(1, round(warmup)) + measured
        command = [
            str(pg_bin_dir() / "pgbench"), "--no-vacuum", "-n", "-M", "prepared", "-P", "1",
            "-c", str(self.workers), "-j", "2", "-T", str(duration), "-f", self.script,
            plain_url(self.url),
        ]  # fmt: skip
        completed = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            raise SystemExit(f"pgbench failed:\n{completed.stderr}")
        # "progress: 7.0 s, 6123.4 tps, lat 2.6 ms stddev 1.1, 0 failed"
        per_second = [
            float(match.group(2))
            for match in re.finditer(r"^progress: ([\d.]+) s, ([\d.]+) tps", completed.stderr, re.M)
            if float(match.group(1)) > duration - measured
        ]
        if len(per_second) < measured - 1:
            raise SystemExit(f"pgbench printed too little progress:\n{completed.stderr}")
        self.done += round(sum(per_second) * self.transfers_per_call)
        self.elapsed += len(per_second)


async def vacuum_journal(connect: Callable[[], Awaitable[asyncpg.Connection]]) -> None:
    """Vacuum the accounts and the journal before a scenario group.

    Each group adds hundreds of thousands of rows; once a table has grown by a fifth since its
    last vacuum, autovacuum starts on it, on the same two cores, in whichever slice it lands:
    pg_stat_user_tables counted several autovacuums of `ledger_entries` in one run, and a
    scenario at 0.69 of its raw client in a run where one began with it. Vacuuming first moves
    that work out of the measured windows for every client alike.
    """
    connection = await connect()
    try:
        await connection.execute(
            "VACUUM ANALYZE ledger_accounts, ledger_transactions, ledger_entries,"
            " bench_floor.accounts, bench_floor.transactions, bench_floor.entries"
        )
    finally:
        await connection.close()


async def open_raw_accounts(owner: asyncpg.Connection, count: int) -> None:
    """Raw accounts RAW_ID_BASE … + count - 1: the ledger's table, ids that pgbench and the raw
    clients compute (they bypass the key hash). Needs the owner role."""
    await owner.execute(
        "INSERT INTO ledger_accounts (id, merchant_id, livemode, currency, kind, operator, shard)"
        " SELECT $1::bigint + g, 'raw_' || g, false, 'XAF', 'general', 'raw', 0"
        " FROM generate_series(0, $2::integer - 1) g",
        RAW_ID_BASE,
        count,
    )


async def prepare(owner_url: str, platform_url: str, platform_role: str) -> None:
    """Open the accounts: ACCOUNTS for the service path, the same number with raw ids, and the
    same number in the host floor's own tables."""
    connection = await asyncpg.connect(plain_url(platform_url))
    try:
        executor = ConnectionExecutor(connection)
        keys = [general(i) for i in range(ACCOUNTS)] + shards_of(HOT)
        for start in range(0, len(keys), 10_000):
            await open_accounts(executor, keys[start : start + 10_000])
    finally:
        await connection.close()
    owner = await asyncpg.connect(plain_url(owner_url))
    try:
        await open_raw_accounts(owner, ACCOUNTS)
        await owner.execute(
            "INSERT INTO ledger_accounts (id, merchant_id, livemode, currency, kind, operator, shard)"
            " SELECT $1::bigint + g, NULL, false, 'XAF', 'fee_revenue', 'raw', g"
            " FROM generate_series(0, 31) g",
            HOT_RAW_BASE,
        )
        await create_floor_tables(owner, platform_role, ACCOUNTS)
        await owner.execute("VACUUM ANALYZE")
        await owner.execute("CHECKPOINT")
    finally:
        await owner.close()


async def run_verify(settings: Settings, owner_url: str) -> bool:
    db = Database.connect(settings, owner_url, process="bench")
    try:
        async with db.platform_transaction() as session:
            await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            await session.execute(text("SET LOCAL statement_timeout = 0"))
            report = await verify(
                session, roles=[settings.database.app_role, settings.database.platform_role]
            )
    finally:
        await db.dispose()
    log(report.render())
    return report.ok


async def recreate(owner_url: str) -> None:
    admin = await asyncpg.connect(plain_url(with_database(owner_url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
        settings = await admin.fetch(
            "SELECT name, setting FROM pg_settings WHERE name IN"
            " ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections', 'server_version',"
            " 'max_wal_size', 'checkpoint_timeout', 'full_page_writes')"
        )
        log("postgres: " + ", ".join(f"{r['name']}={r['setting']}" for r in settings))
    finally:
        await admin.close()


def over_socket(url: str, socket_dir: Path | None, port: int | None) -> str:
    """The same role and database over the co-located server's Unix socket (libpq URL form), as a
    process on the database's machine connects: loopback TCP costs measurably more per call."""
    if socket_dir is None:
        return plain_url(url)
    parts = urlsplit(plain_url(url))
    query = urlencode({"host": str(socket_dir), "port": str(port)})
    return urlunsplit((parts.scheme, f"{parts.username}@", parts.path, query, ""))


async def main_async(
    owner_url: str, socket_dir: Path | None = None, port: int | None = None
) -> dict[str, Any]:
    settings = Settings()
    await recreate(owner_url)
    await asyncio.to_thread(migrate, owner_url)
    _, platform_url = role_urls(settings, owner_url)
    log(f"preparing {ACCOUNTS:,} accounts (+ {ACCOUNTS:,} raw) …")
    await prepare(owner_url, platform_url, settings.database.platform_role)

    client_url = over_socket(platform_url, socket_dir, port)

    async def connect() -> asyncpg.Connection:
        return await asyncpg.connect(client_url, statement_cache_size=100)

    log(
        f"scenarios: {SECONDS:.0f} s each after {WARMUP:.0f} s warm-up, in {SLICES} slices"
        f" alternating with the raw client; machine {machine()}"
    )
    results: dict[str, Any] = {}
    # A first pass over every account (not measured): after the CHECKPOINT above, the first
    # write to each page logs a full-page image, which would penalise whichever scenario ran first.
    started = time.perf_counter()
    warm = await connect()
    try:
        written = await touch_every_account(warm)
    finally:
        await warm.close()
    log(
        f"warm-up: {written:,} transfers touched every account in {time.perf_counter() - started:.1f} s"
    )
    # As `mboa worker` does once started (the process that will post to the ledger): without it,
    # each batch of postings promoted into the oldest generation sets off full collections that
    # walk every module object, a third of L3's Python time per posting.
    freeze_startup_objects()
    await vacuum_journal(connect)
    if PATHS:
        # Is the one-transfer function worth keeping? The same transfer through both write
        # functions, bare asyncpg, in turns (docs/ledger.md, "One write path").
        for round_ in range(PATHS_ROUNDS):
            transfer, apply_one = await run_interleaved(
                connect,
                Scenario("L1 raw write_transfer", CONNECTIONS, raw_l1_step),
                Scenario("L1 raw apply (1)", CONNECTIONS, raw_l1_apply_step),
            )
            results[f"paths_round{round_}_transfer_over_apply"] = transfer / max(apply_one, 1)
        return results
    (
        results["l1_tps"],
        results["raw_l1_asyncpg_tps"],
        results["raw_l1_tps"],
        results["floor_l1_tps"],
    ) = await run_interleaved(
        connect,
        Scenario("L1 service", CONNECTIONS, l1_step),
        Scenario("L1 raw asyncpg", CONNECTIONS, raw_l1_step),
        Pgbench(
            "raw_l1 (pgbench)",
            client_url,
            CONNECTIONS,
            PGBENCH_L1.format(last=ACCOUNTS - 1, last_but_one=ACCOUNTS - 2, base=RAW_ID_BASE),
        ),
        Pgbench(
            "host floor (pgbench)",
            client_url,
            CONNECTIONS,
            PGBENCH_FLOOR.format(last=ACCOUNTS - 1, last_but_one=ACCOUNTS - 2),
        ),
    )
    await vacuum_journal(connect)
    results["l2_hot_tps"], results["raw_l2_asyncpg_tps"] = await run_interleaved(
        connect,
        Scenario("L2 hot service", CONNECTIONS, l2_step),
        Scenario("L2 hot raw asyncpg", CONNECTIONS, raw_l2_step),
    )
    await vacuum_journal(connect)
    (
        results["l3_batch_tps"],
        results["raw_l3_asyncpg_tps"],
        results["floor_l3_tps"],
    ) = await run_interleaved(
        connect,
        Scenario(f"L3 batch {BATCH} service", BATCH_CONNECTIONS, l3_step),
        Scenario(f"L3 batch {BATCH} raw", BATCH_CONNECTIONS, raw_l3_step),
        Pgbench(
            f"host floor batch {BATCH} (pgbench)",
            client_url,
            BATCH_CONNECTIONS,
            PGBENCH_FLOOR_BATCH.format(last=ACCOUNTS - 1, batch=BATCH),
            transfers_per_call=BATCH,
        ),
    )
    # Each ratio is against bare asyncpg: the same client stack with none of our code, so it
    # measures what the ledger's service path costs. pgbench (a C client) is the SQL limit; the
    # ratio to it also counts Python's own per-call cost, and is reported beside.
    results["l1_ratio"] = results["l1_tps"] / max(results["raw_l1_asyncpg_tps"], 1)
    results["l1_ratio_vs_pgbench"] = results["l1_tps"] / max(results["raw_l1_tps"], 1)
    # What fraction of the host's floor (FLOOR_TABLES) the ledger's own SQL and the service reach.
    results["raw_l1_floor_ratio"] = results["raw_l1_tps"] / max(results["floor_l1_tps"], 1)
    results["l1_floor_ratio"] = results["l1_tps"] / max(results["floor_l1_tps"], 1)
    results["l2_ratio"] = results["l2_hot_tps"] / max(results["raw_l2_asyncpg_tps"], 1)
    results["l3_ratio"] = results["l3_batch_tps"] / max(results["raw_l3_asyncpg_tps"], 1)
    results["l3_floor_ratio"] = results["l3_batch_tps"] / max(results["floor_l3_tps"], 1)
    results["verify_ok"] = await run_verify(settings, owner_url)
    return results


def main() -> None:
    owner_url = os.environ.get("MBOA_BENCH_DATABASE_URL")
    servers = None
    if not owner_url:
        servers = EmbeddedServers.for_profile(ROOT / ".mboa", "bench", pg_conf=BENCH_PG_CONF)
        servers.postgres.start()
        owner_url = servers.postgres.url
    owner_url = with_database(owner_url, DATABASE)
    try:
        results = asyncio.run(
            main_async(
                owner_url,
                servers.postgres.pgdata if servers else None,
                servers.postgres.port if servers else None,
            )
        )
    finally:
        if servers is not None:
            servers.postgres.stop()
    summary = {
        key: round(value, 3) if isinstance(value, float) and "ratio" in key else value
        for key, value in results.items()
    }
    summary = {
        k: (round(v) if isinstance(v, float) and k.endswith("_tps") else v)
        for k, v in summary.items()
    }
    summary["machine"] = machine()
    summary["seconds"] = SECONDS
    print(json.dumps(summary), flush=True)
    if not results.get("verify_ok", True):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
