"""Refunds and their disbursements.

Revision ID: 0005_refunds
Revises: 0004_payouts
Create Date: 2026-12-04 21:00:00

`refunds` (`re_…`) and `refund_disbursements` (`rdsb_…`, the transfer to the payer's wallet,
our operator reference stored before any call): issue 13 point 4, docs/refunds.md. Both are
merchant-owned: row-level security as every tenant table. `refund_disbursements` has the shape of
the payouts' `disbursements`, so the two can later fold into one table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from mboa.kit.migration import enable_tenant_rls, grant

revision: str = "0005_refunds"
down_revision: str | None = "0004_payouts"
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
        "refunds",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("payment_intent_id", sa.String(40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee_returned", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(40)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("phone_masked", sa.String(20), nullable=False),
        sa.Column("failure_reason", sa.String(40)),
        sa.Column("failure_message", sa.String(300)),
        sa.Column("succeeded_at", sa.DateTime(timezone=True)),
        sa.Column("failed_at", sa.DateTime(timezone=True)),
        sa.Column("disbursement_id", sa.String(40), nullable=False),
        sa.Column("reserve_transaction_id", sa.String(40), nullable=False),
        sa.Column("metadata", JSONB(), server_default="{}", nullable=False),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_refunds_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["payment_intent_id"],
            ["payment_intents.id"],
            name="fk_refunds_payment_intent_id_payment_intents",
        ),
    )
    op.create_index("ix_refunds_tenant", "refunds", ["merchant_id", "livemode", "id"])
    op.create_index("ix_refunds_payment_intent_id", "refunds", ["payment_intent_id"])

    op.create_table(
        "refund_disbursements",
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
        sa.PrimaryKeyConstraint("id", name="pk_refund_disbursements"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_refund_disbursements_merchant_id_merchants"
        ),
        sa.UniqueConstraint(
            "provider",
            "operator_reference",
            name="uq_refund_disbursements_provider_operator_reference",
        ),
    )
    op.create_index("ix_refund_disbursements_source_id", "refund_disbursements", ["source_id"])
    op.create_index(
        "ix_refund_disbursements_due", "refund_disbursements", ["status", "next_check_at"]
    )

    grant("refunds", app="SELECT, INSERT, UPDATE")
    grant("refund_disbursements", app="SELECT, INSERT, UPDATE")
    for table in ("refunds", "refund_disbursements"):
        enable_tenant_rls(table)


def downgrade() -> None:
    op.drop_table("refund_disbursements")
    op.drop_table("refunds")
