"""Team invitations, password resets, e-mail preferences, the business profile; notifications
become the mailer's queue.

Revision ID: 0014_team
Revises: 0013_totp
Create Date: 2026-12-06 12:00:00

Issue 16 items 6 and 9 (docs/dashboard.md, "Team", "Settings", "E-mail"). `invitations` are
merchant-owned (row-level security per merchant, not per mode); `password_resets` belong to a
user (no tenant, as `user_sessions`). Only the hashes of their links' tokens are stored.
`notifications.merchant_id` may be empty (a password reset concerns a user, not a merchant);
the app role may write notifications (an invitation is queued in the team page's request).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mboa.kit.migration import enable_tenant_rls, grant

revision: str = "0014_team"
down_revision: str | None = "0013_totp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("invited_by", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_invitations_merchant_id_merchants"
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name="fk_invitations_invited_by_users"
        ),
    )
    op.create_index("ix_invitations_merchant_id", "invitations", ["merchant_id", "id"])
    grant("invitations", app="SELECT, INSERT, UPDATE")
    enable_tenant_rls("invitations", mode_scoped=False)

    op.create_table(
        "password_resets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_password_resets"),
        sa.UniqueConstraint("token_hash", name="uq_password_resets_token_hash"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_password_resets_user_id_users"),
    )
    op.create_index("ix_password_resets_user_id", "password_resets", ["user_id"])
    grant("password_resets", app="")

    op.alter_column("notifications", "merchant_id", nullable=True)
    op.create_index(
        "ix_notifications_unsent",
        "notifications",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    grant("notifications", app="SELECT, INSERT", platform="")

    for column in ("notify_payout_paid", "notify_payout_failed", "notify_webhook_disabled"):
        op.add_column("merchant_members", sa.Column(column, sa.Boolean()))
    op.add_column("merchants", sa.Column("support_email", sa.String(320)))
    op.add_column("merchants", sa.Column("support_phone", sa.String(20)))
    op.add_column("merchants", sa.Column("payout_phone", sa.String(20)))
    op.add_column("merchants", sa.Column("payout_provider", sa.String(20)))


def downgrade() -> None:
    for column in ("support_email", "support_phone", "payout_phone", "payout_provider"):
        op.drop_column("merchants", column)
    for column in ("notify_payout_paid", "notify_payout_failed", "notify_webhook_disabled"):
        op.drop_column("merchant_members", column)
    op.drop_index("ix_notifications_unsent", table_name="notifications")
    op.execute("DELETE FROM notifications WHERE merchant_id IS NULL")
    op.alter_column("notifications", "merchant_id", nullable=False)
    op.drop_table("password_resets")
    op.drop_table("invitations")
