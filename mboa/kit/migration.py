"""Helpers for migrations: roles, grants, row-level security and the SQL files, written once.

Every SQL function, trigger and domain lives as a whole `.sql` file beside the code that owns it
(`mboa/<domain>/sql/`). A revision runs such a file with `load_sql` and records, in its module's
`SQL_FILES`, the digest of each file it brings the database in line with. Changing a file later
means a new revision that loads it again (and records the new digest): `tests/test_migrations.py`
fails while a file differs from the digest its newest revision recorded (docs/architecture.md,
"Migrations").
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlparse
from alembic import op

from mboa.config import get_settings

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
"""The `mboa` package: SQL files are named relative to it (`ledger/sql/apply.sql`)."""


def sql_text(name: str) -> str:
    return (PACKAGE_ROOT / name).read_text(encoding="utf-8")


def sql_digest(name: str) -> str:
    """What a revision records for a file it loads (`SQL_FILES`)."""
    return hashlib.sha256((PACKAGE_ROOT / name).read_bytes()).hexdigest()


def sql_statements(sql: str) -> list[str]:
    """`sql`'s statements, one per call (asyncpg prepares one statement at a time)."""
    return [statement for statement in sqlparse.split(sql) if statement.strip()]


def load_sql(name: str) -> None:
    """Run one of the package's SQL files in the revision's transaction."""
    for statement in sql_statements(sql_text(name)):
        op.execute(statement)


def roles() -> tuple[str, str]:
    db = get_settings().database
    return db.app_role, db.platform_role


def enable_tenant_rls(table: str, *, mode_scoped: bool = True, key: str = "merchant_id") -> None:
    """FORCE row-level security on `table`, keyed on the per-transaction tenant settings.

    `NULLIF(…, '')` makes an unset or reset setting mean "no tenant": the policy then matches no row,
    so a query run without a merchant context sees nothing (rather than failing a cast).
    """
    condition = f"{key} = NULLIF(current_setting('mboa.merchant_id', true), '')"
    if mode_scoped:
        condition += " AND livemode = NULLIF(current_setting('mboa.livemode', true), '')::boolean"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({condition}) WITH CHECK ({condition})"
    )


def grant(table: str, *, app: str, platform: str = "SELECT, INSERT, UPDATE, DELETE") -> None:
    app_role, platform_role = roles()
    if app:
        op.execute(f"GRANT {app} ON {table} TO {app_role}")
    if platform:
        op.execute(f"GRANT {platform} ON {table} TO {platform_role}")


def function_privileges(signature: str, *, owner: str | None, execute: str | None) -> None:
    """A function's owner, no EXECUTE for PUBLIC, and EXECUTE for `execute` (a role)."""
    if owner:
        op.execute(f"ALTER FUNCTION {signature} OWNER TO {owner}")
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    if execute:
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {execute}")
