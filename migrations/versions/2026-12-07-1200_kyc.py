"""Going live: the KYC profile and documents, staff roles, risk notes, two merchant statuses.

Revision ID: 0015_kyc
Revises: 0014_team
Create Date: 2026-12-07 10:00:00

Issue 17 (docs/going-live.md). `merchants.status` takes two more values, `submitted` and
`rejected` (its check constraint is replaced); existing rows keep theirs (`sandbox`, `active`,
`suspended` mean what they meant). `merchants` gains `submitted_at`, `rejected_at`,
`rejection_reason`; `users` gains `staff_role`, set to `superadmin` for every existing platform
admin. `merchant_profiles`, `kyc_documents` and `merchant_risk_notes` are account-level rows
(row-level security per merchant); the KYC routes and the console write them as the platform
role, stating the merchant on every statement, so the API role may only read the first two and
never the risk notes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mboa.kit.migration import enable_tenant_rls, grant

revision: str = "0015_kyc"
down_revision: str | None = "0014_team"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


STATUSES = "'sandbox', 'submitted', 'rejected', 'active', 'suspended'"
OLD_STATUSES = "'sandbox', 'active', 'suspended'"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_merchants_status_valid"), "merchants", type_="check")
    op.create_check_constraint("status_valid", "merchants", f"status IN ({STATUSES})")
    op.add_column("users", sa.Column("staff_role", sa.String(20)))
    op.execute("UPDATE users SET staff_role = 'superadmin' WHERE is_platform_admin")
    op.add_column("merchants", sa.Column("submitted_at", sa.DateTime(timezone=True)))
    op.add_column("merchants", sa.Column("rejected_at", sa.DateTime(timezone=True)))
    op.add_column("merchants", sa.Column("rejection_reason", sa.String(500)))

    op.create_table(
        "merchant_profiles",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("legal_name", sa.String(200)),
        sa.Column("rccm_number", sa.String(60)),
        sa.Column("niu_number", sa.String(30)),
        sa.Column("address", sa.String(300)),
        sa.Column("city", sa.String(100)),
        sa.Column("activity", sa.String(200)),
        sa.Column("expected_monthly_volume", sa.BigInteger()),
        sa.Column("settlement_phone", sa.String(20)),
        sa.Column("settlement_operator", sa.String(20)),
        sa.Column("representative_name", sa.String(200)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        _created_at(),
        sa.PrimaryKeyConstraint("merchant_id", name="pk_merchant_profiles"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_merchant_profiles_merchant_id_merchants"
        ),
    )
    op.create_table(
        "kyc_documents",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(40)),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_documents"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_kyc_documents_merchant_id_merchants"
        ),
    )
    op.create_index("ix_kyc_documents_merchant_id", "kyc_documents", ["merchant_id", "kind", "id"])
    op.create_table(
        "merchant_risk_notes",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("author_id", sa.String(40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_merchant_risk_notes"),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name="fk_merchant_risk_notes_merchant_id_merchants",
        ),
    )
    op.create_index(
        "ix_merchant_risk_notes_merchant_id", "merchant_risk_notes", ["merchant_id", "id"]
    )
    grant("merchant_profiles", app="SELECT", platform="SELECT, INSERT, UPDATE")
    grant("kyc_documents", app="SELECT", platform="SELECT, INSERT")
    grant("merchant_risk_notes", app="", platform="SELECT, INSERT")
    for table in ("merchant_profiles", "kyc_documents", "merchant_risk_notes"):
        enable_tenant_rls(table, mode_scoped=False)


def downgrade() -> None:
    op.drop_table("merchant_risk_notes")
    op.drop_table("kyc_documents")
    op.drop_table("merchant_profiles")
    op.drop_column("merchants", "rejection_reason")
    op.drop_column("merchants", "rejected_at")
    op.drop_column("merchants", "submitted_at")
    op.drop_column("users", "staff_role")
    op.execute("UPDATE merchants SET status = 'sandbox' WHERE status IN ('submitted', 'rejected')")
    op.drop_constraint(op.f("ck_merchants_status_valid"), "merchants", type_="check")
    op.create_check_constraint("status_valid", "merchants", f"status IN ({OLD_STATUSES})")
