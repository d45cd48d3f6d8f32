"""Payment intents, their attempts, and events.

Revision ID: 0003_payment_intents
Revises: 0002_refresh_token_chain
Create Date: 2026-12-04 19:00:00

`payment_intents` and `payment_attempts` (issue 13, docs/payments.md) and `events`, written in
the transaction that changes an object (its API comes with issue 14). All three are
merchant-owned: row-level security as every tenant table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from mboa.kit.migration import enable_tenant_rls, grant

revision: str = "0003_payment_intents"
down_revision: str | None = "0002_refresh_token_chain"
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
        "events",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("object_id", sa.String(40), nullable=False),
        sa.Column("data", JSONB(), nullable=False),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_events_merchant_id_merchants"
        ),
    )
    op.create_index("ix_events_tenant", "events", ["merchant_id", "livemode", "id"])
    op.create_index("ix_events_object_id", "events", ["object_id"])

    op.create_table(
        "payment_intents",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(100)),
        sa.Column("description", sa.String(500)),
        sa.Column("customer_id", sa.String(40)),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("cancellation_reason", sa.String(40)),
        sa.Column("canceled_at", sa.DateTime(timezone=True)),
        sa.Column("succeeded_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider", sa.String(20)),
        sa.Column("phone", sa.String(20)),
        sa.Column("amount_received", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("refund_due", sa.Boolean(), nullable=False),
        sa.Column("last_payment_error", JSONB()),
        sa.Column("latest_attempt_id", sa.String(40)),
        sa.Column("ledger_transaction_id", sa.String(40)),
        sa.Column("metadata", JSONB(), server_default="{}", nullable=False),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_payment_intents"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_payment_intents_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_payment_intents_customer_id_customers"
        ),
        sa.UniqueConstraint(
            "merchant_id",
            "livemode",
            "reference",
            name="uq_payment_intents_merchant_id_livemode_reference",
        ),
    )
    op.create_index(
        "ix_payment_intents_tenant", "payment_intents", ["merchant_id", "livemode", "id"]
    )
    op.create_index("ix_payment_intents_expiring", "payment_intents", ["status", "expires_at"])

    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("payment_intent_id", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("flow", sa.String(10), nullable=False),
        sa.Column("phone", sa.String(20)),
        sa.Column("phone_masked", sa.String(20)),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("operator_reference", sa.String(200)),
        sa.Column("operator_transaction_id", sa.String(200)),
        sa.Column("failure_code", sa.String(40)),
        sa.Column("raw_status", sa.String(100)),
        sa.Column("raw_reason", sa.String(200)),
        sa.Column("redirect_url", sa.String(1000)),
        sa.Column("notification_token", sa.String(200)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("next_check_at", sa.DateTime(timezone=True)),
        sa.Column("status_checks", sa.Integer(), nullable=False),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_payment_attempts"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_payment_attempts_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["payment_intent_id"],
            ["payment_intents.id"],
            name="fk_payment_attempts_payment_intent_id_payment_intents",
        ),
        sa.UniqueConstraint(
            "provider",
            "operator_reference",
            name="uq_payment_attempts_provider_operator_reference",
        ),
    )
    op.create_index(
        "ix_payment_attempts_payment_intent_id", "payment_attempts", ["payment_intent_id"]
    )
    op.create_index("ix_payment_attempts_due", "payment_attempts", ["status", "next_check_at"])

    grant("events", app="SELECT, INSERT")
    grant("payment_intents", app="SELECT, INSERT, UPDATE")
    grant("payment_attempts", app="SELECT, INSERT, UPDATE")
    for table in ("events", "payment_intents", "payment_attempts"):
        enable_tenant_rls(table)


def downgrade() -> None:
    op.drop_table("payment_attempts")
    op.drop_table("payment_intents")
    op.drop_table("events")
