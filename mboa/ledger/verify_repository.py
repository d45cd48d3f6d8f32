"""`ledger verify`'s checks: every invariant of the ledger as one SQL query, and how to run one."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


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

    async def take_snapshot(self) -> None:
        """One snapshot for every check, and no time limit (the checks read the whole journal).

        Must run first in its transaction."""
        await self.session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        await self.session.execute(text("SET LOCAL statement_timeout = 0"))

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
