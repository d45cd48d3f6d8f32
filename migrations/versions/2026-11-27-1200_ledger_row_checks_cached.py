"""Ledger: row checks that PostgreSQL caches per session instead of re-reading per statement.

Revision ID: 0007_ledger_row_checks_cached
Revises: 0006_ledger_write_transfer
Create Date: 2026-11-27 12:00:00

A CHECK constraint is deserialised from its stored node text and planned for every statement
that writes its table; a domain's checks and a PL/pgSQL function are prepared once per session
(docs/ledger.md, "CHECK constraints cost per statement"). Counted with `make bench-ledger-cost`
(callgrind, the same 200 one-transfer calls): 1.14 M instructions per transfer before this
revision, 1.02 M after. Same rules:

- `ledger_entries`: non-zero amounts, known kinds and versions from 1 become the domains
  `ledger_entry_amount`, `ledger_entry_kind` and `ledger_version`; the table's CHECK goes.
- `ledger_accounts`: the flag rules move into the IMMUTABLE function `mboa_ledger_account_valid`,
  which the CHECK calls.
- `ledger_transactions`: `mboa_ledger_transaction_valid` takes the columns' own types, so the
  CHECK carries no casts.
- `mboa_ledger_balance_at` casts the version it returns (RETURN QUERY wants the declared types).

Rolling out: changing the entries' column types rewrites `ledger_entries`, the journal's largest
table, under an exclusive lock, and Alembic's one transaction per revision keeps the accounts and
the transactions locked while their new CHECKs read every row: ledger reads and writes wait, so
on a large ledger run it in a maintenance window. Processes of the previous release that hold
prepared statements returning the retyped columns get one "cached plan must not change result
type" error per statement (asyncpg re-prepares outside a transaction; inside one, the caller's
task retries).
"""

from collections.abc import Sequence

from alembic import op

from mboa.kit.migration import revision_module

revision: str = "0007_ledger_row_checks_cached"
down_revision: str | None = "0006_ledger_write_transfer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVISION_0006 = "2026-11-27-1100_ledger_write_transfer.py"
ENTRY_DOMAINS = {
    # column: (domain, base type, rule)
    "amount": ("ledger_entry_amount", "bigint", "VALUE <> 0"),
    "kind": ("ledger_entry_kind", "smallint", "VALUE BETWEEN 0 AND 2"),
    "version": ("ledger_version", "bigint", "VALUE > 0"),
}
ENTRIES_CHECK_0002 = "amount <> 0 AND kind IN (0, 1, 2) AND version > 0"

ACCOUNT_VALID_SQL = """
CREATE FUNCTION mboa_ledger_account_valid(
    flags integer, balance bigint, pending_debits ledger_nonnegative,
    pending_credits ledger_nonnegative
) RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  -- Flag 1: debits must not exceed credits (a merchant's balance never goes negative).
  -- Flag 2: credits must not exceed debits (an asset account never goes positive).
  RETURN (flags & 1 = 0 OR balance >= pending_debits)
     AND (flags & 2 = 0 OR balance <= -pending_credits);
END
$$
"""
ACCOUNTS_CHECK = "mboa_ledger_account_valid(flags, balance, pending_debits, pending_credits)"

TRANSACTION_VALID_SQL = """
CREATE FUNCTION mboa_ledger_transaction_valid(
    link ledger_link, parent_id varchar, phase ledger_phase, amount bigint, fee bigint, net bigint
) RETURNS boolean LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  -- A link names its parent; `resolve` links exactly the post, void and expire phases; a net is
  -- the amount less the fee.
  RETURN (link IS NULL) = (parent_id IS NULL)
     AND coalesce(link = 'resolve', false) = (phase IN ('post', 'void', 'expire'))
     AND (net IS NULL OR (amount IS NOT NULL AND fee IS NOT NULL AND net = amount - fee));
END
$$
"""
TRANSACTIONS_CHECK = "mboa_ledger_transaction_valid(link, parent_id, phase, amount, fee, net)"
TRANSACTION_VALID_0007 = (
    "mboa_ledger_transaction_valid(ledger_link, varchar, ledger_phase, bigint, bigint, bigint)"
)
ACCOUNT_VALID = "mboa_ledger_account_valid(integer, bigint, ledger_nonnegative, ledger_nonnegative)"


# Revision 0002's function with one change: `e.version::bigint` (the column is now a domain).
BALANCE_AT_SQL = """
CREATE OR REPLACE FUNCTION mboa_ledger_balance_at(p_account bigint, p_at timestamptz)
RETURNS TABLE (balance bigint, pending_debits bigint, pending_credits bigint, version bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE lo bigint := 0; hi bigint; mid bigint; t timestamptz;
BEGIN
  SELECT a.version INTO hi FROM ledger_accounts a WHERE a.id = p_account;
  IF hi IS NULL THEN RETURN; END IF;
  WHILE lo < hi LOOP
    mid := (lo + hi + 1) / 2;
    SELECT e.created_at INTO t FROM ledger_entries e WHERE e.account_id = p_account AND e.version = mid;
    IF t <= p_at THEN lo := mid; ELSE hi := mid - 1; END IF;
  END LOOP;
  IF lo = 0 THEN
    RETURN QUERY SELECT 0::bigint, 0::bigint, 0::bigint, 0::bigint;
  ELSE
    RETURN QUERY SELECT e.balance_after, e.pending_debits_after, e.pending_credits_after,
                        e.version::bigint
      FROM ledger_entries e WHERE e.account_id = p_account AND e.version = lo;
  END IF;
END $$
"""


def _swap_check(table: str, name: str, check: str) -> None:
    """Replace a CHECK. (Inside Alembic's one transaction per revision, NOT VALID then VALIDATE
    holds the table's lock as long as a plain ADD would: see the module docstring.)"""
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT {name},"
        f" ADD CONSTRAINT {name} CHECK ({check}) NOT VALID"
    )
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def upgrade() -> None:
    for domain, base, rule in ENTRY_DOMAINS.values():
        op.execute(f"CREATE DOMAIN {domain} AS {base} CHECK ({rule})")
    # One ALTER TABLE: one rewrite, each row checked against the domains as it is copied.
    changes = ["DROP CONSTRAINT ck_ledger_entries_amount"]
    changes += [f"ALTER COLUMN {column} TYPE {d}" for column, (d, _, _) in ENTRY_DOMAINS.items()]
    op.execute(f"ALTER TABLE ledger_entries {', '.join(changes)}")
    # Works on either column type: the downgrade leaves it.
    op.execute(BALANCE_AT_SQL)

    op.execute(ACCOUNT_VALID_SQL)
    _swap_check("ledger_accounts", "ck_ledger_accounts_valid", ACCOUNTS_CHECK)

    op.execute(TRANSACTION_VALID_SQL)
    _swap_check("ledger_transactions", "ck_ledger_transactions_valid", TRANSACTIONS_CHECK)
    op.execute(f"DROP FUNCTION {revision_module(REVISION_0006).TRANSACTION_VALID_SIGNATURE}")


def downgrade() -> None:
    # Revision 0006's function and checks, then the entries' CHECK of revision 0002.
    write_transfer_0006 = revision_module(REVISION_0006)
    op.execute("ALTER TABLE ledger_transactions DROP CONSTRAINT ck_ledger_transactions_valid")
    op.execute(f"DROP FUNCTION {TRANSACTION_VALID_0007}")
    op.execute(write_transfer_0006.TRANSACTION_VALID_SQL)
    op.execute(
        "ALTER TABLE ledger_transactions ADD CONSTRAINT ck_ledger_transactions_valid"
        f" CHECK ({write_transfer_0006.TRANSACTIONS_CHECK})"
    )
    op.execute(
        "ALTER TABLE ledger_accounts DROP CONSTRAINT ck_ledger_accounts_valid,"
        f" ADD CONSTRAINT ck_ledger_accounts_valid CHECK ({write_transfer_0006.ACCOUNTS_CHECK})"
    )
    op.execute(f"DROP FUNCTION {ACCOUNT_VALID}")
    changes = [
        f"ALTER COLUMN {column} TYPE {base}" for column, (_, base, _) in ENTRY_DOMAINS.items()
    ]
    changes.append(f"ADD CONSTRAINT ck_ledger_entries_amount CHECK ({ENTRIES_CHECK_0002})")
    op.execute(f"ALTER TABLE ledger_entries {', '.join(changes)}")
    for domain, _, _ in ENTRY_DOMAINS.values():
        op.execute(f"DROP DOMAIN {domain}")
