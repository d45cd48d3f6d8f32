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

from collections.abc import Sequence

from alembic import op

from mboa.kit.migration import revision_module, roles

revision: str = "0008_drop_ledger_transfer_0002"
down_revision: str | None = "0007_ledger_row_checks_cached"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITER = "mboa_ledger"
REVISION_0002 = "2026-11-27-0500_ledger.py"


def upgrade() -> None:
    signature = revision_module(REVISION_0002).TRANSFER_SIGNATURE
    op.execute(f"DROP FUNCTION {signature}")


def downgrade() -> None:
    ledger_0002 = revision_module(REVISION_0002)
    signature = ledger_0002.TRANSFER_SIGNATURE
    _, platform_role = roles()
    op.execute(ledger_0002.TRANSFER_SQL)
    op.execute(f"ALTER FUNCTION {signature} OWNER TO {WRITER}")
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {platform_role}")
