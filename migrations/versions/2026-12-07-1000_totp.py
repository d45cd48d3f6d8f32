"""Two-factor sign-in: a user's TOTP secret (encrypted) and one-time recovery codes.

Revision ID: 0013_totp
Revises: 0012_checkout_page
Create Date: 2026-12-07 10:00:00

Issue 16, docs/dashboard.md "Two-factor sign-in". Users are not merchant-owned (one user joins
many merchants), so, like `users` and `user_sessions`, the new table has grants and no
row-level security: the application reaches it only through the signed-in user's own id.
`users.totp_secret_ciphertext` is AES-256-GCM (the webhook secrets' primitive, a key derived
for this purpose), `totp_last_step` refuses a code used twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mboa.kit.migration import grant

revision: str = "0013_totp"
down_revision: str | None = "0012_checkout_page"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret_ciphertext", sa.LargeBinary))
    op.add_column("users", sa.Column("totp_enabled_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger))
    op.create_table(
        "user_recovery_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_user_recovery_codes_user_id", "user_recovery_codes", ["user_id"])
    grant("user_recovery_codes", app="SELECT, INSERT, UPDATE, DELETE")


def downgrade() -> None:
    op.drop_table("user_recovery_codes")
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_enabled_at")
    op.drop_column("users", "totp_secret_ciphertext")
