"""Helpers for migrations: roles, grants and row-level security, written once."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

from mboa.config import get_settings


def revision_module(filename: str) -> ModuleType:
    """An earlier revision's module, for a downgrade that puts back what it created (revision
    files start with a date, so they are loaded by path rather than imported)."""
    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / filename
    spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
