"""Webhook endpoints, deliveries and their attempts, notifications; the events fan-out trigger.

Revision ID: 0008_webhooks
Revises: 0007_disbursements
Create Date: 2026-12-05 12:00:00

Issue 14 (docs/webhooks.md): `webhook_endpoints` (`we_…`, the signing secret encrypted),
`webhook_deliveries` (one per event and endpoint), `webhook_attempts` (the delivery log) are
merchant-owned (row-level security per merchant and mode). `notifications` are notices to a
merchant's people (per merchant). `webhooks/sql/fan_out.sql` adds the statement trigger on
`events` that feeds the fan-out through the outbox.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from mboa.kit.migration import enable_tenant_rls, grant, load_sql, roles

revision: str = "0008_webhooks"
down_revision: str | None = "0007_disbursements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_FILES = {
    "webhooks/sql/fan_out.sql": "ff877fe4366adbf6a271a68abfcce23a4a54c740f3e9c30a0a65e6635e780d02",
}
"""The SQL files this revision runs, with the digest (`sql_digest`) each had when it was written."""


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
        "webhook_endpoints",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500)),
        sa.Column("enabled_events", JSONB(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("disabled_reason", sa.String(40)),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret_ciphertext", sa.LargeBinary()),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
        sa.Column("failing_since", sa.DateTime(timezone=True)),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        sa.Column("metadata", JSONB(), server_default="{}", nullable=False),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_webhook_endpoints_merchant_id_merchants"
        ),
    )
    op.create_index(
        "ix_webhook_endpoints_tenant", "webhook_endpoints", ["merchant_id", "livemode", "id"]
    )
    op.create_index(
        "ix_webhook_endpoints_enabled",
        "webhook_endpoints",
        ["merchant_id", "livemode"],
        postgresql_where=sa.text("status = 'enabled' AND deleted_at IS NULL"),
    )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("endpoint_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("leased_until", sa.DateTime(timezone=True)),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("succeeded_at", sa.DateTime(timezone=True)),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_webhook_deliveries_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
        ),
        sa.UniqueConstraint(
            "event_id", "endpoint_id", name="uq_webhook_deliveries_event_id_endpoint_id"
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id", "id"]
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(40), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("latency_ms", sa.Integer()),
        sa.Column("response_body", sa.Text()),
        sa.Column("error", sa.String(500)),
        sa.Column("next_retry_at", sa.DateTime(timezone=True)),
        *_tenant_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_webhook_attempts_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
        ),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id", "id"])

    op.create_table(
        "notifications",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(80), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("recipients", JSONB(), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", JSONB(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_notifications_merchant_id_merchants"
        ),
    )
    op.create_index("ix_notifications_merchant_id", "notifications", ["merchant_id", "id"])

    grant("webhook_endpoints", app="SELECT, INSERT, UPDATE")
    grant("webhook_deliveries", app="SELECT, INSERT, UPDATE")
    grant("webhook_attempts", app="SELECT")
    grant("notifications", app="SELECT")
    op.execute(f"GRANT USAGE ON SEQUENCE webhook_attempts_id_seq TO {', '.join(roles())}")
    for table in ("webhook_endpoints", "webhook_deliveries", "webhook_attempts"):
        enable_tenant_rls(table)
    enable_tenant_rls("notifications", mode_scoped=False)
    load_sql("webhooks/sql/fan_out.sql")


def downgrade() -> None:
    op.execute("DROP TRIGGER events_fan_out ON events")
    op.execute("DROP FUNCTION mboa_webhooks_fan_out()")
    op.drop_table("notifications")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
