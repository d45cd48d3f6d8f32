"""The ledger's write path: one call of a write function per batch of postings.

`apply` sends a single plain transfer to `mboa_ledger_write_transfer` and anything else to
`mboa_ledger_apply` (ledger/sql/); both write the same rows with the same checks, and the first
is kept because it is measurably faster (docs/ledger.md, "One write path"). An `Executor` runs the
call in the caller's session or on a bare asyncpg connection.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.kit.db import sqlstate
from mboa.ledger.accounts import AccountKey
from mboa.ledger.exceptions import LedgerBusy
from mboa.ledger.posting import (
    Outcome,
    Posting,
    PostingResult,
    build_batch,
    parse_results,
    parse_transfer_rows,
    transfer_args,
)

APPLY_SQL = (
    "SELECT o_item, o_status, o_transaction_id FROM mboa_ledger_apply($1, $2, $3, $4, $5, $6,"
    " $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
)
TRANSFER_SQL = (
    "SELECT mboa_ledger_write_transfer($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
    " $14, $15, $16, $17, $18)"
)
OPEN_SQL = "SELECT mboa_ledger_open_accounts($1, $2, $3, $4, $5, $6, $7, $8)"
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
_POSITIONAL = re.compile(r"\$(\d+)")


class Executor(Protocol):
    """Where a ledger call runs: the caller's session, or a bare asyncpg connection."""

    async def fetch(self, sql: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]: ...

    async def shard_hint(self) -> int: ...


class SessionExecutor:
    """Runs inside the caller's transaction (the payment lifecycle's workers use this)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def fetch(self, sql: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        named = _POSITIONAL.sub(r":p\1", sql)
        try:
            result = await self.session.execute(
                text(named), {f"p{i}": value for i, value in enumerate(args, 1)}
            )
        except DBAPIError as exc:
            if sqlstate(exc) in RETRYABLE_SQLSTATES:
                # The caller's transaction is aborted; its task retries, and the retry then sees
                # the concurrent transaction's result (a replay).
                raise LedgerBusy("concurrent posting with the same key; retry") from exc
            raise
        return result.all()

    async def shard_hint(self) -> int:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return int(raw.driver_connection.get_server_pid())  # type: ignore[union-attr]


class ConnectionExecutor:
    """A bare asyncpg connection in autocommit: each call is its own database transaction, so a
    retryable failure (a concurrent duplicate key) is retried here and never reaches the caller."""

    def __init__(self, connection: asyncpg.Connection, *, attempts: int = 20) -> None:
        self.connection = connection
        self.attempts = attempts

    async def fetch(self, sql: str, args: Sequence[Any]) -> Sequence[Sequence[Any]]:
        for attempt in range(self.attempts):
            try:
                rows: Sequence[Sequence[Any]] = await self.connection.fetch(sql, *args)
                return rows
            except asyncpg.PostgresError as exc:
                retry = (
                    sqlstate(exc) in RETRYABLE_SQLSTATES
                    and not self.connection.is_in_transaction()
                    and attempt + 1 < self.attempts
                )
                if not retry:
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    async def shard_hint(self) -> int:
        return int(self.connection.get_server_pid())


async def open_accounts(executor: Executor, keys: Iterable[AccountKey]) -> None:
    keys = list(keys)
    await executor.fetch(
        OPEN_SQL,
        [
            [key.id for key in keys],
            [key.merchant_id for key in keys],
            [key.livemode for key in keys],
            [key.currency for key in keys],
            [str(key.kind) for key in keys],
            [key.operator for key in keys],
            [key.shard for key in keys],
            [key.flags for key in keys],
        ],
    )


async def apply(executor: Executor, postings: Sequence[Posting]) -> list[PostingResult]:
    """Write a batch of postings in one call; accounts are opened on first use.

    A single plain transfer takes the one-statement path (`mboa_ledger_write_transfer`, see
    `transfer_args`), anything else the general function (`mboa_ledger_apply`); both write the
    same rows with the same checks.
    """
    if not postings:
        return []
    shard_hint = await executor.shard_hint()
    transfer = transfer_args(postings[0], shard_hint) if len(postings) == 1 else None
    if transfer is not None:
        (args, accounts), sql = transfer, TRANSFER_SQL
    else:
        batch = build_batch(postings, shard_hint)
        args, accounts, sql = batch.args, batch.accounts, APPLY_SQL
    for _ in range(10):
        rows = await executor.fetch(sql, args)
        results = (
            parse_transfer_rows(rows) if sql is TRANSFER_SQL else parse_results(rows, len(postings))
        )
        if results[0].outcome is Outcome.unknown_account:
            await open_accounts(executor, accounts.values())
        elif results[0].outcome is not Outcome.retry:
            return results
        # `retry`: a concurrent transaction committed the same key after this statement's
        # snapshot; the next call sees it and answers with a replay or a conflict.
    raise LedgerBusy("the ledger could not complete the posting; retry")
