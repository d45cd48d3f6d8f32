"""The merchant dashboard: search indexes on payment intents, a user's language.

Revision ID: 0011_dashboard
Revises: 0010_drop_refund_view
Create Date: 2026-12-06 10:00:00

Issue 16, docs/dashboard.md. The payments page searches references and phone numbers by any
part (`ILIKE '%…%'`): trigram GIN indexes (`pg_trgm`) answer those without a scan. Its filters
by status and by customer, and the home page's volume by success time, read btree indexes that
lead with the tenant (row-level security adds `merchant_id` and `livemode` to every query).
`users.locale` remembers the language a user chose in the dashboard.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mboa.kit.migration import load_sql

revision: str = "0011_dashboard"
down_revision: str | None = "0010_drop_refund_view"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_FILES = {
    "dashboard/sql/pg_trgm.sql": "cee69458add23197a7fcd2b79ba698cbdf02d7a2354359f7f0e4cc572c6a19b2",
}
"""The SQL files this revision runs, with the digest (`sql_digest`) each had when it was written."""


def upgrade() -> None:
    load_sql("dashboard/sql/pg_trgm.sql")
    op.add_column("users", sa.Column("locale", sa.String(5)))
    op.create_index(
        "ix_payment_intents_reference_trgm",
        "payment_intents",
        ["reference"],
        postgresql_using="gin",
        postgresql_ops={"reference": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_payment_intents_phone_trgm",
        "payment_intents",
        ["phone"],
        postgresql_using="gin",
        postgresql_ops={"phone": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_payment_intents_tenant_status",
        "payment_intents",
        ["merchant_id", "livemode", "status", "id"],
    )
    op.create_index(
        "ix_payment_intents_tenant_customer",
        "payment_intents",
        ["merchant_id", "livemode", "customer_id", "id"],
    )
    op.create_index(
        "ix_payment_intents_tenant_succeeded",
        "payment_intents",
        ["merchant_id", "livemode", "succeeded_at"],
        postgresql_where=sa.text("succeeded_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_payment_intents_tenant_succeeded", table_name="payment_intents")
    op.drop_index("ix_payment_intents_tenant_customer", table_name="payment_intents")
    op.drop_index("ix_payment_intents_tenant_status", table_name="payment_intents")
    op.drop_index("ix_payment_intents_phone_trgm", table_name="payment_intents")
    op.drop_index("ix_payment_intents_reference_trgm", table_name="payment_intents")
    op.drop_column("users", "locale")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")
