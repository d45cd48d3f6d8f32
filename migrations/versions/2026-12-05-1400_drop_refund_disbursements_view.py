"""Drop the read-only `refund_disbursements` view left by the fold into `disbursements`.

Revision ID: 0010_drop_refund_view
Revises: 0009_checkout
Create Date: 2026-12-05 14:00:00

Revision 0007_disbursements kept a view of the old table's name for the payments' ordering test,
which now reads `disbursements WHERE source_type = 'refund'` (docs/disbursements.md).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_drop_refund_view"
down_revision: str | None = "0009_checkout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS refund_disbursements")


def downgrade() -> None:
    op.execute(
        "CREATE VIEW refund_disbursements AS SELECT * FROM disbursements"
        " WHERE source_type = 'refund'"
    )
