"""Ledger keys that PostgreSQL 13 and 14 can hold: unique indexes on `coalesce(merchant_id, '')`.

Revision ID: 0005_ledger_keys_pg13
Revises: 0004_ledger_lean_writes
Create Date: 2026-11-27 10:00:00

Revision 0002 first declared `uq_ledger_accounts_key` and `uq_ledger_fee_plans_key` as
`UNIQUE NULLS NOT DISTINCT` constraints (a platform account's, and the default fee plan's,
merchant is NULL), which needs PostgreSQL 15; we support 13 and newer. Revision 0002 now creates
expression indexes instead. A database migrated with the earlier text still has the
constraints: this revision swaps them for the same indexes, so the fee-plan upsert's conflict
target (`coalesce(merchant_id, '')`, operator, currency) matches everywhere.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_ledger_keys_pg13"
down_revision: str | None = "0004_ledger_lean_writes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {
    "uq_ledger_accounts_key": (
        "ledger_accounts",
        "coalesce(merchant_id, ''), livemode, currency, kind, operator, shard",
    ),
    "uq_ledger_fee_plans_key": (
        "ledger_fee_plans",
        "coalesce(merchant_id, ''), operator, currency",
    ),
}


def upgrade() -> None:
    for name, (table, columns) in KEYS.items():
        op.execute(
            f"""
            DO $$ BEGIN
              IF EXISTS (SELECT FROM pg_constraint WHERE conname = '{name}') THEN
                ALTER TABLE {table} DROP CONSTRAINT {name};
                CREATE UNIQUE INDEX {name} ON {table} ({columns});
              END IF;
            END $$
            """
        )


def downgrade() -> None:
    # The expression indexes are what revision 0002 creates now: nothing to undo.
    pass
