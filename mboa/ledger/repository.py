"""All of the ledger's SQL: the write call, reads, and the invariant checks of `ledger verify`."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Select, and_, delete, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mboa.kit.db import sqlstate
from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.ledger.accounts import AccountKey, AccountKind
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
from mboa.models import LedgerAccount, LedgerEntry, LedgerFeePlan, LedgerTransaction

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


@dataclasses.dataclass(frozen=True, slots=True)
class EntryRow:
    account: AccountKey
    amount: int
    kind: int


class LedgerRepository(RepositoryBase[LedgerTransaction]):
    model = LedgerTransaction

    async def get_transaction(self, transaction_id: str) -> LedgerTransaction | None:
        return await self.get_one_or_none(
            select(LedgerTransaction).where(LedgerTransaction.id == transaction_id)
        )

    async def get_by_key(self, idempotency_key: str) -> LedgerTransaction | None:
        return await self.get_one_or_none(
            select(LedgerTransaction).where(LedgerTransaction.idempotency_key == idempotency_key)
        )

    async def transaction_entries(self, transaction_id: str) -> list[EntryRow]:
        rows = await self.session.execute(
            select(LedgerEntry, LedgerAccount)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(LedgerEntry.transaction_id == transaction_id)
            .order_by(LedgerEntry.account_id, LedgerEntry.kind)
        )
        return [
            EntryRow(
                AccountKey(
                    account.merchant_id,
                    account.livemode,
                    account.currency,
                    AccountKind(account.kind),
                    account.operator,
                    account.shard,
                    account.flags,
                ),
                entry.amount,
                entry.kind,
            )
            for entry, account in rows.all()
        ]

    async def accounts(self, ids: Sequence[int]) -> list[LedgerAccount]:
        rows = await self.session.execute(select(LedgerAccount).where(LedgerAccount.id.in_(ids)))
        return list(rows.scalars())

    async def balance_at(self, account: int, at: dt.datetime) -> tuple[int, int, int, int]:
        row = (
            await self.session.execute(
                text("SELECT * FROM mboa_ledger_balance_at(:account, :at)"),
                {"account": account, "at": at},
            )
        ).first()
        if row is None:
            return (0, 0, 0, 0)
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    async def entries(
        self, account: int, *, before_version: int | None, limit: int
    ) -> list[LedgerEntry]:
        statement = select(LedgerEntry).where(LedgerEntry.account_id == account)
        if before_version is not None:
            statement = statement.where(LedgerEntry.version < before_version)
        statement = statement.order_by(LedgerEntry.version.desc()).limit(limit)
        return list((await self.session.execute(statement)).scalars())

    async def due_pendings(self, now: dt.datetime, limit: int) -> list[str]:
        rows = await self.session.execute(
            text(
                "SELECT transaction_id FROM ledger_open_pendings WHERE expires_at <= :now"
                " ORDER BY expires_at LIMIT :limit"
            ),
            {"now": now, "limit": limit},
        )
        return [str(row[0]) for row in rows]

    async def due_settlements(
        self, now: dt.datetime, limit: int, after: tuple[dt.datetime, str] | None = None
    ) -> list[Any]:
        """Due rows in (available_on, transaction_id) order, from just after `after`: a walk
        through the queue that rows left in it (a refused settlement) cannot stall."""
        after_on, after_id = after if after is not None else (None, "")
        rows = await self.session.execute(
            text(
                "SELECT transaction_id, merchant_id, livemode, currency, amount, available_on"
                " FROM ledger_settlement_queue WHERE available_on <= :now"
                " AND (CAST(:after_on AS timestamptz) IS NULL"
                "      OR (available_on, transaction_id) > (:after_on, :after_id))"
                " ORDER BY available_on, transaction_id LIMIT :limit"
            ),
            {"now": now, "limit": limit, "after_on": after_on, "after_id": after_id},
        )
        return list(rows.all())

    # Merchant-facing reads: under the API role, row-level security limits rows to the tenant.

    async def merchant_accounts(self) -> list[LedgerAccount]:
        statement = select(LedgerAccount).where(
            LedgerAccount.merchant_id.is_not(None),
            LedgerAccount.kind.in_(["pending", "available", "reserved"]),
        )
        return list((await self.session.execute(statement)).scalars())

    def balance_transactions_statement(
        self,
        *,
        type_: str | None = None,
        source: str | None = None,
        created: CreatedRange | None = None,
    ) -> Select[LedgerTransaction]:
        statement = select(LedgerTransaction).where(
            LedgerTransaction.bt_type.is_not(None), LedgerTransaction.merchant_id.is_not(None)
        )
        if type_ is not None:
            statement = statement.where(LedgerTransaction.bt_type == type_)
        if source is not None:
            statement = statement.where(LedgerTransaction.source == source)
        if created is not None:
            statement = statement.where(*created.clauses(LedgerTransaction.created_at))
        return statement

    async def closed(self, transaction_ids: Sequence[str]) -> set[str]:
        """Those of `transaction_ids` that were settled or reversed (at most one of the two)."""
        if not transaction_ids:
            return set()
        child = aliased(LedgerTransaction)
        rows = await self.session.execute(
            select(child.parent_id).where(
                and_(child.link.in_(("settle", "reverse")), child.parent_id.in_(transaction_ids))
            )
        )
        return {str(row[0]) for row in rows}


class FeePlanRepository(RepositoryBase[LedgerFeePlan]):
    model = LedgerFeePlan

    async def plan_for(
        self, merchant_id: str, operator: str, currency: str
    ) -> LedgerFeePlan | None:
        statement = (
            select(LedgerFeePlan)
            .where(
                LedgerFeePlan.operator == operator,
                LedgerFeePlan.currency == currency,
                (LedgerFeePlan.merchant_id == merchant_id) | LedgerFeePlan.merchant_id.is_(None),
            )
            .order_by(LedgerFeePlan.merchant_id.is_(None))
            .limit(1)
        )
        return await self.get_one_or_none(statement)

    async def plans_of(self, merchant_id: str) -> list[LedgerFeePlan]:
        """The merchant's own plans and the default ones."""
        statement = select(LedgerFeePlan).where(
            (LedgerFeePlan.merchant_id == merchant_id) | LedgerFeePlan.merchant_id.is_(None)
        )
        return list((await self.session.execute(statement)).scalars())

    async def remove(self, merchant_id: str, operator: str, currency: str) -> None:
        await self.session.execute(
            delete(LedgerFeePlan).where(
                LedgerFeePlan.merchant_id == merchant_id,
                LedgerFeePlan.operator == operator,
                LedgerFeePlan.currency == currency,
            )
        )

    async def upsert(
        self,
        *,
        merchant_id: str | None,
        operator: str,
        currency: str,
        percent_bps: int,
        fixed_amount: int,
        settlement_delay_seconds: int,
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO ledger_fee_plans (merchant_id, operator, currency, percent_bps,"
                " fixed_amount, settlement_delay_seconds) VALUES (:m, :o, :c, :p, :f, :d)"
                # uq_ledger_fee_plans_key: the default plan's NULL merchant counts as one key.
                " ON CONFLICT ((coalesce(merchant_id, '')), operator, currency) DO UPDATE SET"
                " percent_bps = EXCLUDED.percent_bps, fixed_amount = EXCLUDED.fixed_amount,"
                " settlement_delay_seconds = EXCLUDED.settlement_delay_seconds,"
                " updated_at = now()"
            ),
            {
                "m": merchant_id,
                "o": operator,
                "c": currency,
                "p": percent_bps,
                "f": fixed_amount,
                "d": settlement_delay_seconds,
            },
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    name: str
    description: str
    sql: str
    """Selects one text column, one row per violation."""


_ENTRY_STATE = """
    SELECT account_id,
           sum(amount) FILTER (WHERE kind = 0) AS balance,
           sum(CASE WHEN kind = 1 AND amount < 0 THEN -amount
                    WHEN kind = 2 AND amount < 0 THEN amount ELSE 0 END) AS pending_debits,
           sum(CASE WHEN kind = 1 AND amount > 0 THEN amount
                    WHEN kind = 2 AND amount > 0 THEN -amount ELSE 0 END) AS pending_credits,
           count(*) AS entries, max(version) AS last_version
    FROM ledger_entries GROUP BY account_id
"""

CHECKS: tuple[Check, ...] = (
    Check(
        "zero_sum_per_currency",
        "all entries of each kind sum to zero per currency",
        """SELECT format('%s kind %s sums to %s', a.currency, e.kind, sum(e.amount))
           FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
           GROUP BY a.currency, e.kind HAVING sum(e.amount) <> 0""",
    ),
    Check(
        "transactions_balanced",
        "every transaction's entries sum to zero per kind",
        """SELECT format('%s kind %s sums to %s', transaction_id, kind, sum(amount))
           FROM ledger_entries GROUP BY transaction_id, kind HAVING sum(amount) <> 0""",
    ),
    Check(
        "transactions_have_two_entries",
        "every transaction has at least two entries",
        """SELECT format('%s has %s entries', t.id, coalesce(e.n, 0))
           FROM ledger_transactions t
           LEFT JOIN (SELECT transaction_id, count(*) AS n FROM ledger_entries GROUP BY 1) e
             ON e.transaction_id = t.id
           WHERE coalesce(e.n, 0) < 2""",
    ),
    Check(
        "entries_reference_transaction_and_currency",
        "every entry belongs to a transaction and an account of the transaction's currency",
        """SELECT format('entry %s/%s of %s', e.account_id, e.version, e.transaction_id)
           FROM ledger_entries e
           LEFT JOIN ledger_transactions t ON t.id = e.transaction_id
           LEFT JOIN ledger_accounts a ON a.id = e.account_id
           WHERE t.id IS NULL OR a.id IS NULL OR a.currency <> t.currency""",
    ),
    Check(
        "stored_balances_match_entries",
        "stored balance, pending debits and pending credits equal the sums of the entries",
        f"""SELECT format('account %s: stored %s/%s/%s, entries say %s/%s/%s', a.id, a.balance,
                          a.pending_debits, a.pending_credits, coalesce(s.balance, 0),
                          coalesce(s.pending_debits, 0), coalesce(s.pending_credits, 0))
            FROM ledger_accounts a LEFT JOIN ({_ENTRY_STATE}) s ON s.account_id = a.id
            WHERE a.balance <> coalesce(s.balance, 0)
               OR a.pending_debits <> coalesce(s.pending_debits, 0)
               OR a.pending_credits <> coalesce(s.pending_credits, 0)""",  # noqa: S608 - constant
    ),
    Check(
        "version_chains_complete",
        "each account's entries are versions 1..version, without gaps",
        f"""SELECT format('account %s: version %s, %s entries, last %s', a.id, a.version,
                          coalesce(s.entries, 0), s.last_version)
            FROM ledger_accounts a LEFT JOIN ({_ENTRY_STATE}) s ON s.account_id = a.id
            WHERE a.version <> coalesce(s.entries, 0) OR a.version <> coalesce(s.last_version, 0)
            UNION ALL
            SELECT format('entries of unknown account %s', e.account_id)
            FROM ledger_entries e LEFT JOIN ledger_accounts a ON a.id = e.account_id
            WHERE a.id IS NULL""",  # noqa: S608 - constant
    ),
    Check(
        "version_chains_consistent",
        "each entry's balances equal the previous version's plus its amount; time never goes back",
        """SELECT format('account %s version %s', account_id, version) FROM (
             SELECT account_id, version, kind, amount, created_at, balance_after,
                    pending_debits_after, pending_credits_after,
                    lag(balance_after, 1, 0::bigint) OVER w AS prev_balance,
                    lag(pending_debits_after, 1, 0::bigint) OVER w AS prev_debits,
                    lag(pending_credits_after, 1, 0::bigint) OVER w AS prev_credits,
                    lag(created_at) OVER w AS prev_at
             FROM ledger_entries WINDOW w AS (PARTITION BY account_id ORDER BY version)) x
           WHERE balance_after <> prev_balance + CASE WHEN kind = 0 THEN amount ELSE 0 END
              OR pending_debits_after <> prev_debits + CASE
                   WHEN kind = 1 AND amount < 0 THEN -amount
                   WHEN kind = 2 AND amount < 0 THEN amount ELSE 0 END
              OR pending_credits_after <> prev_credits + CASE
                   WHEN kind = 1 AND amount > 0 THEN amount
                   WHEN kind = 2 AND amount > 0 THEN -amount ELSE 0 END
              OR created_at < prev_at""",
    ),
    Check(
        "flagged_accounts_never_negative",
        "accounts flagged debits<=credits (or credits<=debits) respect it at every version",
        """SELECT format('account %s version %s', e.account_id, e.version)
           FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
           WHERE (a.flags & 1 <> 0 AND e.balance_after - e.pending_debits_after < 0)
              OR (a.flags & 2 <> 0 AND e.balance_after + e.pending_credits_after > 0)
              OR e.pending_debits_after < 0 OR e.pending_credits_after < 0
           UNION ALL
           SELECT format('account %s now', a.id) FROM ledger_accounts a
           WHERE (a.flags & 1 <> 0 AND a.balance - a.pending_debits < 0)
              OR (a.flags & 2 <> 0 AND a.balance + a.pending_credits > 0)""",
    ),
    Check(
        "pendings_resolved_at_most_once",
        "a pending transfer is posted, voided or expired at most once, and only a pending is",
        """SELECT format('%s resolved %s times', parent_id, count(*))
           FROM ledger_transactions WHERE link = 'resolve' GROUP BY parent_id HAVING count(*) > 1
           UNION ALL
           SELECT format('%s resolves %s, which is not a pending transfer', r.id, r.parent_id)
           FROM ledger_transactions r LEFT JOIN ledger_transactions p ON p.id = r.parent_id
           WHERE r.link = 'resolve' AND (p.id IS NULL OR p.phase <> 'pending')""",
    ),
    Check(
        "resolutions_release_the_holds",
        "a resolution releases exactly its pending's holds and posts no more than was held",
        """SELECT format('%s does not release the holds of %s', r.id, r.parent_id)
           FROM ledger_transactions r
           WHERE r.link = 'resolve' AND EXISTS (
             (SELECT account_id, amount FROM ledger_entries
               WHERE transaction_id = r.parent_id AND kind = 1
              EXCEPT ALL
              SELECT account_id, amount FROM ledger_entries WHERE transaction_id = r.id AND kind = 2)
             UNION ALL
             (SELECT account_id, amount FROM ledger_entries WHERE transaction_id = r.id AND kind = 2
              EXCEPT ALL
              SELECT account_id, amount FROM ledger_entries
               WHERE transaction_id = r.parent_id AND kind = 1))
           UNION ALL
           SELECT format('%s posts more than %s held', r.id, r.parent_id)
           FROM ledger_transactions r JOIN ledger_entries e ON e.transaction_id = r.id AND e.kind = 0
           WHERE r.link = 'resolve' AND NOT EXISTS (
             SELECT 1 FROM ledger_entries h
             WHERE h.transaction_id = r.parent_id AND h.kind = 1 AND h.account_id = e.account_id
               AND sign(h.amount) = sign(e.amount) AND abs(e.amount) <= abs(h.amount))""",
    ),
    Check(
        "no_pending_past_expiry",
        "no pending is posted after its expiry, expired before it, or left open long after it",
        """SELECT format('%s posted after %s expired', r.id, p.id)
           FROM ledger_transactions r JOIN ledger_transactions p ON p.id = r.parent_id
           WHERE r.link = 'resolve' AND r.phase = 'post' AND p.expires_at IS NOT NULL
             AND r.created_at >= p.expires_at
           UNION ALL
           SELECT format('%s expired %s before its expiry', r.id, p.id)
           FROM ledger_transactions r JOIN ledger_transactions p ON p.id = r.parent_id
           WHERE r.link = 'resolve' AND r.phase = 'expire'
             AND (p.expires_at IS NULL OR r.created_at < p.expires_at)
           UNION ALL
           SELECT format('%s still pending, expired at %s', p.id, p.expires_at)
           FROM ledger_transactions p
           WHERE p.phase = 'pending' AND p.expires_at < now() - make_interval(secs => :grace)
             AND NOT EXISTS (SELECT 1 FROM ledger_transactions r
                             WHERE r.parent_id = p.id AND r.link = 'resolve')""",
    ),
    Check(
        "reversals_at_most_once",
        "a transaction is reversed at most once, by exactly its negation",
        """SELECT format('%s reversed %s times', parent_id, count(*))
           FROM ledger_transactions WHERE link = 'reverse' GROUP BY parent_id HAVING count(*) > 1
           UNION ALL
           SELECT format('%s is not the negation of %s', r.id, r.parent_id)
           FROM ledger_transactions r
           WHERE r.link = 'reverse' AND EXISTS (
             (SELECT account_id, -amount FROM ledger_entries
               WHERE transaction_id = r.parent_id AND kind = 0
              EXCEPT ALL
              SELECT account_id, amount FROM ledger_entries WHERE transaction_id = r.id)
             UNION ALL
             (SELECT account_id, amount FROM ledger_entries WHERE transaction_id = r.id
              EXCEPT ALL
              SELECT account_id, -amount FROM ledger_entries
               WHERE transaction_id = r.parent_id AND kind = 0))""",
    ),
    Check(
        "settled_at_most_once",
        "a collection is settled at most once",
        """SELECT format('%s settled %s times', parent_id, count(*))
           FROM ledger_transactions WHERE link = 'settle' GROUP BY parent_id HAVING count(*) > 1""",
    ),
    Check(
        "settled_or_reversed",
        "a collection is settled or reversed, not both",
        """SELECT format('%s both settled and reversed', parent_id)
           FROM ledger_transactions WHERE link IN ('settle', 'reverse')
           GROUP BY parent_id HAVING count(DISTINCT link) > 1""",
    ),
    Check(
        "pending_balances_match_balance_transactions",
        "each merchant's pending balance is the sum of the nets its balance transactions show as"
        " pending",
        """WITH shown AS (
             SELECT t.merchant_id, t.livemode, t.currency, sum(t.net) AS net
             FROM ledger_transactions t
             WHERE t.merchant_id IS NOT NULL AND t.bt_type IS NOT NULL
               AND t.available_on IS NOT NULL AND t.net <> 0
               AND NOT EXISTS (SELECT 1 FROM ledger_transactions c
                               WHERE c.parent_id = t.id AND c.link IN ('settle', 'reverse'))
             GROUP BY 1, 2, 3
           ), held AS (
             SELECT merchant_id, livemode, currency, sum(balance) AS balance
             FROM ledger_accounts WHERE kind = 'pending' AND merchant_id IS NOT NULL
             GROUP BY 1, 2, 3
           )
           SELECT format('merchant %s (livemode %s, %s): pending balance %s, pending balance'
                         ' transactions %s', merchant_id, livemode, currency,
                         coalesce(h.balance, 0), coalesce(s.net, 0))
           FROM held h FULL JOIN shown s USING (merchant_id, livemode, currency)
           WHERE coalesce(h.balance, 0) <> coalesce(s.net, 0)""",
    ),
    Check(
        "idempotency_keys_unique",
        "an idempotency key names one transaction",
        """SELECT format('key %s used %s times', idempotency_key, count(*))
           FROM ledger_transactions GROUP BY idempotency_key HAVING count(*) > 1""",
    ),
    Check(
        "journal_append_only",
        "UPDATE/DELETE triggers are enabled and the application roles cannot change the journal",
        """SELECT format('trigger %s_append_only missing or disabled', t)
           FROM unnest(ARRAY['ledger_entries', 'ledger_transactions']) AS t
           WHERE NOT EXISTS (SELECT 1 FROM pg_trigger g
                             WHERE g.tgrelid = t::regclass AND g.tgname = t || '_append_only'
                               AND g.tgenabled <> 'D')
           UNION ALL
           SELECT format('role %s may %s %s', r, p, t)
           FROM unnest(ARRAY['ledger_entries', 'ledger_transactions']) AS t,
                unnest(CAST(:roles AS text[])) AS r,
                unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) AS p
           -- CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and
           -- has_table_privilege raises on a role that does not exist.
           WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
                      THEN has_table_privilege(r, t, p) ELSE false END""",
    ),
    Check(
        "write_path_closed",
        "no application role can put objects on the write functions' search path",
        # The write functions run as their owner with `search_path = pg_catalog, public, pg_temp`:
        # operators resolve by argument types wherever they sit on the path, so a role that can
        # create in `public` could change what a write or a row check computes; and without
        # `pg_temp` listed last, a caller's temporary table named like a ledger table would be
        # found first.
        """SELECT format('role %s may CREATE in schema public', r)
           FROM unnest(CAST(:roles AS text[]) || ARRAY['public']) AS r
           WHERE CASE WHEN r = 'public' OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
                      THEN has_schema_privilege(r, 'public', 'CREATE') ELSE false END
           UNION ALL
           SELECT format('%s runs as its owner without pg_temp last on its search path',
                         p.oid::regprocedure)
           FROM pg_proc p JOIN pg_roles o ON o.oid = p.proowner
           WHERE o.rolname = 'mboa_ledger' AND p.prosecdef
             AND NOT coalesce((SELECT bool_or(c ~ '^search_path=.*pg_temp$')
                               FROM unnest(p.proconfig) AS c), false)""",
    ),
)


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResult:
    check: Check
    violations: int
    samples: list[str]


class VerifyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> VerifyRepository:
        return cls(session)

    async def run(self, check: Check, *, roles: Sequence[str], grace_seconds: int) -> CheckResult:
        params: dict[str, Any] = {}
        if ":roles" in check.sql:
            params["roles"] = list(roles)
        if ":grace" in check.sql:
            params["grace"] = grace_seconds
        rows = await self.session.execute(
            text(f"SELECT count(*), (array_agg(v.x))[1:5] FROM ({check.sql}) AS v(x)"),  # noqa: S608
            params,
        )
        count, samples = rows.one()
        return CheckResult(check, int(count), list(samples or []))

    async def totals(self) -> dict[str, int]:
        row = (
            await self.session.execute(
                text(
                    "SELECT (SELECT count(*) FROM ledger_accounts),"
                    " (SELECT count(*) FROM ledger_transactions),"
                    " (SELECT count(*) FROM ledger_entries)"
                )
            )
        ).one()
        return {"accounts": int(row[0]), "transactions": int(row[1]), "entries": int(row[2])}
