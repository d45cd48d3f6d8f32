"""Payouts and their disbursements.

Revision ID: 0004_payouts
Revises: 0003_payment_intents
Create Date: 2026-12-04 20:00:00

`payouts` (issue 13 point 5, docs/payouts.md) and `disbursements`: one row per transfer of ours
to a wallet, for a payout now and a refund later (`source_type`). Both merchant-owned: row-level
security as every tenant table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from mboa.kit.migration import enable_tenant_rls, grant

revision: str = "0004_payouts"
down_revision: str | None = "0003_payment_intents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.String(500)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("phone_masked", sa.String(20), nullable=False),
        sa.Column("review_status", sa.String(20), nullable=False),
        sa.Column("reviewed_by", sa.String(40)),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
        sa.Column("failure_code", sa.String(40)),
        sa.Column("failure_message", sa.String(300)),
        sa.Column("cancellation_reason", sa.String(40)),
        sa.Column("canceled_at", sa.DateTime(timezone=True)),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("failed_at", sa.DateTime(timezone=True)),
        sa.Column("disbursement_id", sa.String(40), nullable=False),
        sa.Column("reserve_transaction_id", sa.String(40), nullable=False),
        sa.Column("metadata", JSONB(), server_default="{}", nullable=False),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_payouts"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_payouts_merchant_id_merchants"
        ),
    )
    op.create_index("ix_payouts_tenant", "payouts", ["merchant_id", "livemode", "id"])
    op.create_index("ix_payouts_review", "payouts", ["review_status", "id"])

    op.create_table(
        "disbursements",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("source_type", sa.String(20), nullable=False),
        sa.Column("source_id", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("operator_reference", sa.String(200)),
        sa.Column("operator_transaction_id", sa.String(200)),
        sa.Column("failure_code", sa.String(40)),
        sa.Column("raw_status", sa.String(100)),
        sa.Column("raw_reason", sa.String(200)),
        sa.Column("details", JSONB()),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("next_check_at", sa.DateTime(timezone=True)),
        sa.Column("status_checks", sa.Integer(), nullable=False),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_disbursements"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_disbursements_merchant_id_merchants"
        ),
        sa.UniqueConstraint(
            "provider",
            "operator_reference",
            name="uq_disbursements_provider_operator_reference",
        ),
    )
    op.create_index("ix_disbursements_source_id", "disbursements", ["source_id"])
    op.create_index("ix_disbursements_due", "disbursements", ["status", "next_check_at"])

    # Creating and canceling a payout writes the ledger, which only the platform role may do:
    # those routes run as the platform role (docs/payouts.md); the tenant role reads.
    grant("payouts", app="SELECT")
    grant("disbursements", app="SELECT")
    for table in ("payouts", "disbursements"):
        enable_tenant_rls(table)


def downgrade() -> None:
    op.drop_table("disbursements")
    op.drop_table("payouts")
