"""Ledger write functions: `pg_temp` last on their search path.

Revision ID: 0010_ledger_search_path_pg_temp
Revises: 0009_close_public_schema
Create Date: 2026-11-27 15:00:00

The SECURITY DEFINER write functions ran with `search_path = pg_catalog, public`. When `pg_temp`
is not listed, PostgreSQL searches the session's temporary schema FIRST for tables and types, and
every role may create temporary tables by default: a caller could create a temporary
`ledger_accounts` and have the function read made-up balances from it while writing real entries.
Listing `pg_temp` last (as PostgreSQL's documentation advises for SECURITY DEFINER functions, and
as the foundation's functions already do) makes the real tables win. `ledger verify`
(`write_path_closed`) checks every function the ledger's writer role owns.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_ledger_search_path_pg_temp"
down_revision: str | None = "0009_close_public_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = "mboa_ledger"


def _set_search_path(path: str) -> None:
    op.execute(
        f"""
        DO $$
        DECLARE f regprocedure;
        BEGIN
          FOR f IN SELECT p.oid FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
                   WHERE r.rolname = '{WRITER}' AND p.prosecdef LOOP
            EXECUTE format('ALTER FUNCTION %s SET search_path = {path}', f);
          END LOOP;
        END $$
        """
    )


def upgrade() -> None:
    _set_search_path("pg_catalog, public, pg_temp")


def downgrade() -> None:
    _set_search_path("pg_catalog, public")
