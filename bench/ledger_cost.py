"""Server instructions per transfer, counted by callgrind (`make bench-ledger-cost`).

Throughput on this shared 2-vCPU host moves by a third from one minute to the next (pgbench on the
same statement: 3 400 to 8 100 transfers/s, docs/benchmarks.md), so it cannot tell a 5 % change
from noise. callgrind counts the instructions PostgreSQL executes, which do not depend on what else
the machine is doing: the same binary, data and statements give the same count to within 0.5 %.

Two databases in one embedded PostgreSQL: one at the head revision, one at BASELINE_REVISION (the
write path before revision 0006). Each gets the same accounts and a warm-up that writes every
account once. Then, with the server stopped, `postgres --single` runs under callgrind twice per
database and path: for L1's path, FIRST and FIRST + COUNT one-transfer calls (one transaction
each); for L3's, BATCH_FIRST and BATCH_FIRST + BATCHES calls of `mboa_ledger_apply` with BATCH
transfers each. The difference divided by the transfers it adds is the cost of one transfer:
start-up cancels out, while the shutdown checkpoint's writing of the pages the calls dirtied is
counted (alike for both databases), and so is parsing the EXECUTE's literal arguments (alike too).
Every call is a new transfer that succeeds, not a replay or a refusal. It counts PostgreSQL's
user-space instructions: not the kernel (fsync, sockets), nor the client.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from ledger import RAW_ID_BASE, open_raw_accounts, raw_args, raw_transfer_args  # noqa: E402

from mboa.dev.runtime import alembic_config, ensure_database  # noqa: E402
from mboa.dev.servers import PG_SYSTEM_USER, EmbeddedPostgres, pg_bin_dir  # noqa: E402
from mboa.postgres import plain_url, with_database  # noqa: E402

BASELINE_REVISION = "0005_ledger_keys_pg13"
ACCOUNTS = int(os.environ.get("MBOA_BENCH_COST_ACCOUNTS", "20000"))
FIRST = 20
COUNT = int(os.environ.get("MBOA_BENCH_COST_TRANSFERS", "200"))
BATCH = 100
BATCH_FIRST = 2
BATCHES = 10
PARAMS = ", ".join(f"${i}" for i in range(1, 19))
# The statement each database's one-transfer path runs (repository.TRANSFER_SQL at each revision).
CALLS = {
    "head": f"SELECT mboa_ledger_write_transfer({PARAMS})",
    "baseline": f"SELECT o_status, o_transaction_id FROM mboa_ledger_transfer({PARAMS})",
}
DATABASES = {"head": "mboa_bench_cost_head", "baseline": "mboa_bench_cost_baseline"}
# What single-user mode prints for a created transfer (a text[] at head, a table row before).
ANSWERS = {"head": '"{created,', "baseline": 'o_status = "created"'}
# The general function, the same at both revisions (L3's path): created items per call.
APPLY_CALL = (
    "SELECT count(*) FILTER (WHERE o_status = 'created') AS created FROM mboa_ledger_apply("
    + ", ".join(f"${i}" for i in range(1, 25))
    + ")"
)


def log(message: str) -> None:
    print(message, flush=True)


TRANSFER_TYPES = (
    "bigint[]", "text", "text", "bytea", "text", "text", "text", "boolean", "text", "text",
    "text", "bigint", "bigint", "bigint", "text", "text", "smallint[]", "bigint[]",
)  # fmt: skip
APPLY_TYPES = (
    "bigint[]", "text[]", "text[]", "bytea[]", "text[]", "text[]", "text[]", "boolean[]",
    "text[]", "text[]", "text[]", "text[]", "timestamptz[]", "text[]", "bigint[]", "bigint[]",
    "bigint[]", "timestamptz[]", "text[]", "text[]", "integer[]", "integer[]", "smallint[]",
    "bigint[]",
)  # fmt: skip


def _value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_value(item) for item in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def sql_arguments(values: list[Any], types: tuple[str, ...]) -> str:
    """The raw clients' argument lists (bench/ledger.py) as EXECUTE literals. Arrays and bytes
    are cast to their parameter's type (an array of NULLs is built with array_fill, which parses
    in constant time); scalars take their type from the prepared statement."""

    def literal(value: Any, type_: str) -> str:
        if isinstance(value, list) and all(item is None for item in value):
            return f"array_fill(NULL::{type_.removesuffix('[]')}, ARRAY[{len(value)}])"
        if isinstance(value, list | bytes):
            return f"{_value(value)}::{type_}"
        return _value(value)

    return ", ".join(literal(v, t) for v, t in zip(values, types, strict=True))


def transfer_literal(rng: random.Random) -> str:
    """One transfer of 100 between two random accounts, as the raw L1 client sends it."""
    debit, credit = rng.sample(range(ACCOUNTS), 2)
    return sql_arguments(
        raw_transfer_args(RAW_ID_BASE + debit, RAW_ID_BASE + credit), TRANSFER_TYPES
    )


def batch_literal(rng: random.Random) -> str:
    """BATCH transfers of 100 between random accounts, as the raw L3 client sends them."""
    pairs = [rng.sample(range(ACCOUNTS), 2) for _ in range(BATCH)]
    return sql_arguments(
        raw_args([(RAW_ID_BASE + a, RAW_ID_BASE + b) for a, b in pairs]), APPLY_TYPES
    )


async def prepare(url: str, revision: str) -> None:
    """Migrate to `revision`, open the accounts, write each one once, vacuum."""
    await ensure_database(url)
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)
    connection = await asyncpg.connect(plain_url(url))
    try:
        await open_raw_accounts(connection, ACCOUNTS)
        statement = await connection.prepare(CALLS["head" if revision == "head" else "baseline"])
        for low in range(0, ACCOUNTS - 1, 2):
            await statement.fetch(*raw_transfer_args(RAW_ID_BASE + low, RAW_ID_BASE + low + 1))
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def count_instructions(
    pgdata: Path, database: str, statement: str, executes: list[str], answer: str
) -> int:
    """callgrind's instruction total for a single-user backend that prepares `statement` and
    executes it with each argument list; every execution must print `answer`."""
    lines = [f"PREPARE measured AS {statement}"]
    lines += [f"EXECUTE measured({arguments})" for arguments in executes]
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
        answered = completed.stdout.count(answer)
        if completed.returncode != 0 or answered != len(executes):
            raise SystemExit(
                f"single-user run failed ({answered}/{len(executes)} answered {answer}):\n"
                f"{completed.stderr[-3000:]}"
            )
        summary = re.search(r"^summary: (\d+)$", out.read_text(), re.M)
        if summary is None:
            raise SystemExit("callgrind wrote no summary")
        return int(summary.group(1))


def per_transfer(
    pgdata: Path,
    database: str,
    statement: str,
    make: Callable[[random.Random], str],
    first: int,
    more: int,
    answer: str,
    transfers_per_call: int,
) -> int:
    """Instructions per transfer: (first + more calls) - (first calls), over the added transfers.
    The same seed gives both runs the same first calls."""
    totals = []
    for calls in (first, first + more):
        rng = random.Random(7)
        executes = [make(rng) for _ in range(calls)]
        totals.append(count_instructions(pgdata, database, statement, executes, answer))
    return (totals[1] - totals[0]) // (more * transfers_per_call)


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
        one = per_transfer(
            server.pgdata, database, CALLS[name], transfer_literal, FIRST, COUNT,
            ANSWERS[name], 1,
        )  # fmt: skip
        batched = per_transfer(
            server.pgdata, database, APPLY_CALL, batch_literal, BATCH_FIRST, BATCHES,
            f'created = "{BATCH}"', BATCH,
        )  # fmt: skip
        results[f"{name}_instructions_per_transfer"] = one
        results[f"{name}_batch_instructions_per_transfer"] = batched
        log(f"{name:<9} one transfer per call {one:>11,}   in batches of {BATCH} {batched:>9,}")
    results["ratio_to_baseline"] = round(
        results["head_instructions_per_transfer"] / results["baseline_instructions_per_transfer"],
        3,
    )
    results["batch_ratio_to_baseline"] = round(
        results["head_batch_instructions_per_transfer"]
        / results["baseline_batch_instructions_per_transfer"],
        3,
    )
    results["baseline_revision"] = BASELINE_REVISION
    results["transfers"] = COUNT
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
