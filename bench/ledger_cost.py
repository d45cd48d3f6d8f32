"""Server instructions per transfer, counted by callgrind (`make bench-ledger-cost`).

Throughput on this shared 2-vCPU host moves by a third from one minute to the next (pgbench on the
same statement: 3 400 to 8 100 transfers/s, docs/benchmarks.md), so it cannot tell a 5 % change
from noise. callgrind counts the instructions PostgreSQL executes, which do not depend on what else
the machine is doing: the same binary, data and statements give the same count to within 0.5 %.

One database at the head revision in an embedded PostgreSQL, with ACCOUNTS accounts and a warm-up
that writes every account once. Then, with the server stopped, `postgres --single` runs under
callgrind twice per path: FIRST and FIRST + COUNT calls (one transaction each) of the one-transfer
function `mboa_ledger_write_transfer` (L1's path), the same of `mboa_ledger_apply` with one
posting (what L1 would cost without the one-transfer function: docs/ledger.md, "One write path"),
and BATCH_FIRST and BATCH_FIRST + BATCHES calls of `mboa_ledger_apply` with BATCH transfers each
(L3's path). The difference divided by the transfers it adds is the cost of one transfer:
start-up cancels out, while the shutdown checkpoint's writing of the pages the calls dirtied is
counted, and so is parsing the EXECUTE's literal arguments. Every call is a new transfer that
succeeds, not a replay or a refusal. It counts PostgreSQL's user-space instructions: not the
kernel (fsync, sockets), nor the client.

Each count is reported against RECORDED, the last counts written in docs/benchmarks.md (update
both together when a change to the write path is measured). Needs valgrind. The last line of
output is one JSON object.
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

from ledger import RAW_ID_BASE, open_raw_accounts, raw_args, raw_transfer_args  # noqa: E402

from mboa.dev.runtime import migrate  # noqa: E402
from mboa.dev.servers import PG_SYSTEM_USER, EmbeddedPostgres, pg_bin_dir  # noqa: E402
from mboa.postgres import plain_url, with_database  # noqa: E402

RECORDED = {"transfer": 1_022_695, "apply_one": 2_247_565, "batch": 470_709}
"""Instructions per transfer in docs/benchmarks.md ("Ledger cost"), by path (None: not recorded)."""
ACCOUNTS = int(os.environ.get("MBOA_BENCH_COST_ACCOUNTS", "20000"))
FIRST = 20
COUNT = int(os.environ.get("MBOA_BENCH_COST_TRANSFERS", "200"))
BATCH = 100
BATCH_FIRST = 2
BATCHES = 10
TRANSFER_CALL = (
    "SELECT mboa_ledger_write_transfer(" + ", ".join(f"${i}" for i in range(1, 19)) + ")"
)
# The general function (L3's path, and L1's without the one-transfer function): created items.
APPLY_CALL = (
    "SELECT count(*) FILTER (WHERE o_status = 'created') AS created FROM mboa_ledger_apply("
    + ", ".join(f"${i}" for i in range(1, 25))
    + ")"
)
DATABASE = "mboa_bench_cost"


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


def apply_one_literal(rng: random.Random) -> str:
    """The same transfer as `transfer_literal` (same seed, same accounts), through the general
    function as a batch of one."""
    debit, credit = rng.sample(range(ACCOUNTS), 2)
    return sql_arguments(raw_args([(RAW_ID_BASE + debit, RAW_ID_BASE + credit)]), APPLY_TYPES)


def batch_literal(rng: random.Random) -> str:
    """BATCH transfers of 100 between random accounts, as the raw L3 client sends them."""
    pairs = [rng.sample(range(ACCOUNTS), 2) for _ in range(BATCH)]
    return sql_arguments(
        raw_args([(RAW_ID_BASE + a, RAW_ID_BASE + b) for a, b in pairs]), APPLY_TYPES
    )


async def prepare(url: str) -> None:
    """Migrate to head, open the accounts, write each one once, vacuum."""
    await asyncio.to_thread(migrate, url)
    connection = await asyncpg.connect(plain_url(url))
    try:
        await open_raw_accounts(connection, ACCOUNTS)
        statement = await connection.prepare(TRANSFER_CALL)
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
    admin = await asyncpg.connect(plain_url(server.url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await admin.close()
    log(f"migrating to head, {ACCOUNTS:,} accounts, each written once")
    await prepare(with_database(server.url, DATABASE))


def main() -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed (Debian: apt-get install valgrind)")
    server = EmbeddedPostgres(ROOT / ".mboa" / "bench-cost" / "postgres")
    server.start()
    try:
        asyncio.run(set_up(server))
    finally:
        server.stop(force=True)
    paths = {
        # path: (statement, arguments, calls before, calls added, answer, transfers per call)
        "transfer": (TRANSFER_CALL, transfer_literal, FIRST, COUNT, '"{created,', 1),
        "apply_one": (APPLY_CALL, apply_one_literal, FIRST, COUNT, 'created = "1"', 1),
        "batch": (APPLY_CALL, batch_literal, BATCH_FIRST, BATCHES, f'created = "{BATCH}"', BATCH),
    }
    results: dict[str, Any] = {}
    for name, (statement, make, first, more, answer, per_call) in paths.items():
        count = per_transfer(
            server.pgdata, DATABASE, statement, make, first, more, answer, per_call
        )
        results[f"{name}_instructions_per_transfer"] = count
        recorded = RECORDED[name]
        if recorded is not None:
            results[f"{name}_ratio_to_recorded"] = round(count / recorded, 3)
        log(f"{name:<10} {count:>11,} instructions per transfer (recorded: {recorded or '-'})")
    results["apply_one_over_transfer"] = round(
        results["apply_one_instructions_per_transfer"]
        / results["transfer_instructions_per_transfer"],
        3,
    )
    results["transfers"] = COUNT
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
