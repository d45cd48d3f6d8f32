"""Fee plans: staff may remove a merchant's own plan (the default applies again).

Revision ID: 0012_fee_plans_removable
Revises: 0011_ledger_settled_or_reversed
Create Date: 2026-11-27 17:00:00

`DELETE /v1/admin/merchants/{id}/fee_plans/{operator}` runs as the platform role, which could
insert and update plans but not delete them. Only `ledger_fee_plans` gains DELETE; the journal's
grants are unchanged.
"""

from collections.abc import Sequence

from alembic import op

from mboa.kit.migration import roles

revision: str = "0012_fee_plans_removable"
down_revision: str | None = "0011_ledger_settled_or_reversed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _, platform_role = roles()
    op.execute(f"GRANT DELETE ON ledger_fee_plans TO {platform_role}")


def downgrade() -> None:
    _, platform_role = roles()
    op.execute(f"REVOKE DELETE ON ledger_fee_plans FROM {platform_role}")
