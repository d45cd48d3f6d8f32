"""Hosted checkout sessions and payment links.

Revision ID: 0009_checkout
Revises: 0008_webhooks
Create Date: 2026-12-05 13:00:00

`checkout_sessions` (`cs_…`, one per payment intent, with the secret part of its page URL) and
`payment_links` (`plink_…`): issue 15, docs/checkout.md. Both are merchant-owned: row-level
security as every tenant table. The public pages find their tenant through two definer functions
(`checkout/sql/public_tenant.sql`) that return only the merchant and mode of the row a URL names.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from mboa.kit.migration import enable_tenant_rls, function_privileges, grant, load_sql, roles

revision: str = "0009_checkout"
down_revision: str | None = "0008_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_FILES = {
    "checkout/sql/public_tenant.sql": "318436c0458938e5995338c778b71e3c067a22286f708e2fb39d8d897d7bdfed",
}
"""The SQL files this revision runs, with the digest (`sql_digest`) each had when it was written."""

PUBLIC_FUNCTIONS = (
    "mboa_checkout_session_tenant(text, text)",
    "mboa_payment_link_tenant(text)",
)


def _tenant_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("metadata", JSONB(), server_default="{}", nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "payment_links",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger()),
        sa.Column("min_amount", sa.BigInteger()),
        sa.Column("max_amount", sa.BigInteger()),
        sa.Column("description", sa.String(500)),
        sa.Column("fields", JSONB(), nullable=False),
        sa.Column("after_completion_type", sa.String(20), nullable=False),
        sa.Column("after_completion_url", sa.String(2000)),
        sa.Column("after_completion_message", sa.String(500)),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_payment_links"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_payment_links_merchant_id_merchants"
        ),
    )
    op.create_index("ix_payment_links_tenant", "payment_links", ["merchant_id", "livemode", "id"])

    op.create_table(
        "checkout_sessions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("url_secret", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("payment_intent_id", sa.String(40), nullable=False),
        sa.Column("payment_link_id", sa.String(40)),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.String(500)),
        sa.Column("success_url", sa.String(2000)),
        sa.Column("cancel_url", sa.String(2000)),
        sa.Column("completion_message", sa.String(500)),
        sa.Column("locale", sa.String(10), nullable=False),
        sa.Column("customer_id", sa.String(40)),
        sa.Column("phone", sa.String(20)),
        sa.Column("customer_details", JSONB()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("expired_at", sa.DateTime(timezone=True)),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_checkout_sessions"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_checkout_sessions_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["payment_intent_id"],
            ["payment_intents.id"],
            name="fk_checkout_sessions_payment_intent_id_payment_intents",
        ),
        sa.ForeignKeyConstraint(
            ["payment_link_id"],
            ["payment_links.id"],
            name="fk_checkout_sessions_payment_link_id_payment_links",
        ),
    )
    op.create_index(
        "ix_checkout_sessions_tenant", "checkout_sessions", ["merchant_id", "livemode", "id"]
    )
    op.create_index(
        "ix_checkout_sessions_payment_intent_id",
        "checkout_sessions",
        ["payment_intent_id"],
        unique=True,
    )
    op.create_index(
        "ix_checkout_sessions_payment_link_id", "checkout_sessions", ["payment_link_id"]
    )
    op.create_index("ix_checkout_sessions_expiring", "checkout_sessions", ["status", "expires_at"])

    for table in ("payment_links", "checkout_sessions"):
        grant(table, app="SELECT, INSERT, UPDATE")
        enable_tenant_rls(table)

    app_role, platform_role = roles()
    load_sql("checkout/sql/public_tenant.sql")
    for signature in PUBLIC_FUNCTIONS:
        function_privileges(signature, owner=platform_role, execute=app_role)


def downgrade() -> None:
    for signature in PUBLIC_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.drop_table("checkout_sessions")
    op.drop_table("payment_links")
