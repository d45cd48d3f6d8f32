"""Ledger: drop revision 0002's one-transfer function, two releases old.

Revision ID: 0008_drop_ledger_transfer_0002
Revises: 0007_ledger_row_checks_cached
Create Date: 2026-11-27 13:00:00

Revision 0004 replaced the 21-argument `mboa_ledger_transfer` of revision 0002 and kept it for
the processes of the release before it during a rolling deploy. Revision 0006 replaced 0004's in
turn (`mboa_ledger_write_transfer`). No process of 0002's release can still be running, and a
journal writer that nothing calls or tests is a liability (revision 0007 changed the column
types under it), so it goes. Revision 0004's function stays one more release.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

from mboa.kit.migration import roles

revision: str = "0008_drop_ledger_transfer_0002"
down_revision: str | None = "0007_ledger_row_checks_cached"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = "mboa_ledger"
SIGNATURE_0002 = (
    "mboa_ledger_transfer(bigint[], text, text, bytea, text, text, text, boolean, text, text,"
    " timestamptz, text, bigint, bigint, bigint, timestamptz, text, text, integer[], smallint[],"
    " bigint[])"
)


def upgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE_0002}")


def downgrade() -> None:
    # Revision 0002's text, read from its module (the file name starts with a digit, so it is
    # loaded by path rather than imported).
    path = Path(__file__).with_name("2026-11-27-0500_ledger.py")
    spec = importlib.util.spec_from_file_location("ledger_0002", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _, platform_role = roles()
    op.execute(module.TRANSFER_SQL)
    op.execute(f"ALTER FUNCTION {SIGNATURE_0002} OWNER TO {WRITER}")
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE_0002} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE_0002} TO {platform_role}")
