"""Server instructions per transfer, counted by callgrind (`make bench-ledger-cost`).

Throughput on this shared 2-vCPU host moves by a third from one minute to the next (pgbench on the
same statement: 3 400 to 8 100 transfers/s, docs/benchmarks.md), so it cannot tell a 5 % change
from noise. callgrind counts the instructions PostgreSQL executes, which do not depend on what else
the machine is doing: the same binary, data and statements give the same count to within 0.5 %.

Two databases in one embedded PostgreSQL: one at the head revision, one at BASELINE_REVISION (the
write path before revision 0006). Each gets the same accounts and a warm-up that writes every
account once. Then, with the server stopped, `postgres --single` runs under callgrind twice per
database, with FIRST and FIRST + COUNT one-transfer calls (one transaction each, as in L1); the
difference divided by COUNT is the cost of one transfer: start-up cancels out, while the shutdown
checkpoint's writing of the pages the calls dirtied is counted (alike for both databases). Every
call is a new transfer that succeeds (the path L1 measures), not a replay or a refusal. It counts
PostgreSQL's user-space instructions: not the kernel (fsync, sockets), nor the client.

Needs valgrind. The last line of output is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402

from mboa.devservers import PG_SYSTEM_USER, EmbeddedPostgres, pg_bin_dir  # noqa: E402
from mboa.postgres import plain_url, with_database  # noqa: E402
from mboa.runtime import alembic_config, ensure_database  # noqa: E402

BASELINE_REVISION = "0005_ledger_keys_pg13"
ACCOUNTS = int(os.environ.get("MBOA_BENCH_COST_ACCOUNTS", "20000"))
FIRST = 20
COUNT = int(os.environ.get("MBOA_BENCH_COST_TRANSFERS", "200"))
BASE_ID = 1_000_000_000
ARG_TYPES = (
    "bigint[], text, text, bytea, text, text, text, boolean, text, text, text, bigint, bigint,"
    " bigint, text, text, smallint[], bigint[]"
)
PARAMS = ", ".join(f"${i}" for i in range(1, 19))
# The statement each database's one-transfer path runs (repository.TRANSFER_SQL at each revision).
CALLS = {
    "head": f"SELECT mboa_ledger_write_transfer({PARAMS})",
    "baseline": f"SELECT o_status, o_transaction_id FROM mboa_ledger_transfer({PARAMS})",
}
DATABASES = {"head": "mboa_bench_cost_head", "baseline": "mboa_bench_cost_baseline"}


def log(message: str) -> None:
    print(message, flush=True)


def transfer_literal(rng: random.Random) -> str:
    """EXECUTE arguments for one transfer of 100 between two random accounts."""
    low, high = sorted(rng.sample(range(ACCOUNTS), 2))
    return (
        f"ARRAY[{BASE_ID + low}, {BASE_ID + high}]::bigint[], 'txn_{uuid.uuid4().hex}',"
        f" 'cost:{uuid.uuid4()}', '\\x00'::bytea, 'transfer', NULL, NULL, false, 'XAF', 'posted',"
        " NULL, NULL, NULL, NULL, NULL, NULL, ARRAY[0, 0]::smallint[], ARRAY[-100, 100]::bigint[]"
    )


async def prepare(url: str, revision: str) -> None:
    """Migrate to `revision`, open the accounts, write each one once, vacuum."""
    await ensure_database(url)
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
    connection = await asyncpg.connect(plain_url(url))
    try:
        await connection.execute(
            "INSERT INTO ledger_accounts (id, merchant_id, livemode, currency, kind, operator, shard)"
            " SELECT $1::bigint + g, 'cost_' || g, false, 'XAF', 'general', 'cost', 0"
            " FROM generate_series(0, $2::integer - 1) g",
            BASE_ID,
            ACCOUNTS,
        )
        call = CALLS["head" if revision == "head" else "baseline"]
        statement = await connection.prepare(call)
        for low in range(0, ACCOUNTS - 1, 2):
            await statement.fetch(
                [BASE_ID + low, BASE_ID + low + 1], f"txn_w{low}", f"warm:{low}", b"\0",
                "transfer", None, None, False, "XAF", "posted", None, None, None, None, None,
                None, [0, 0], [-100, 100],
            )  # fmt: skip
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def count_instructions(pgdata: Path, database: str, call: str, transfers: int, seed: int) -> int:
    """callgrind's instruction total for a single-user backend running `transfers` calls."""
    rng = random.Random(seed)
    lines = [f"PREPARE transfer({ARG_TYPES}) AS {call}"]
    lines += [f"EXECUTE transfer({transfer_literal(rng)})" for _ in range(transfers)]
    run_as = PG_SYSTEM_USER if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o777)
        out = Path(scratch) / "callgrind.out"
        completed = subprocess.run(
            [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                str(pg_bin_dir() / "postgres"), "--single", "-D", str(pgdata), database,
            ],
            input="\n".join(lines) + "\n", capture_output=True, text=True, user=run_as,
            check=False,
        )  # fmt: skip
        created = len(re.findall(r'"\{?created', completed.stdout))
        if completed.returncode != 0 or created != transfers:
            raise SystemExit(
                f"single-user run failed ({created}/{transfers} created):\n"
                f"{completed.stderr[-3000:]}"
            )
        summary = re.search(r"^summary: (\d+)$", out.read_text(), re.M)
        if summary is None:
            raise SystemExit("callgrind wrote no summary")
        return int(summary.group(1))


async def set_up(server: EmbeddedPostgres) -> None:
    for name, database in DATABASES.items():
        url = with_database(server.url, database)
        admin = await asyncpg.connect(plain_url(server.url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()
        revision = "head" if name == "head" else BASELINE_REVISION
        log(f"{name}: migrating to {revision}, {ACCOUNTS:,} accounts, each written once")
        await prepare(url, revision)


def main() -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed (Debian: apt-get install valgrind)")
    server = EmbeddedPostgres(ROOT / ".mboa" / "bench-cost" / "postgres")
    server.start()
    try:
        asyncio.run(set_up(server))
    finally:
        server.stop(force=True)
    results: dict[str, Any] = {}
    for name, database in DATABASES.items():
        counts = [
            count_instructions(server.pgdata, database, CALLS[name], n, seed=7)
            for n in (FIRST, FIRST + COUNT)
        ]
        per_transfer = (counts[1] - counts[0]) // COUNT
        results[f"{name}_instructions_per_transfer"] = per_transfer
        log(f"{name:<9} {per_transfer:>12,} instructions per transfer  ({CALLS[name][:48]}…)")
    results["ratio_to_baseline"] = round(
        results["head_instructions_per_transfer"] / results["baseline_instructions_per_transfer"],
        3,
    )
    results["baseline_revision"] = BASELINE_REVISION
    results["transfers"] = COUNT
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
