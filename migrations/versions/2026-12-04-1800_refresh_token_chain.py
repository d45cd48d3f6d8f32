"""Refresh tokens: keep every spent token of a session, not only the last one.

Revision ID: 0002_refresh_token_chain
Revises: 0001_baseline
Create Date: 2026-12-04 18:00:00

`user_sessions.previous_token_hash` remembered one rotation, so a token two rotations old got a
401 but left the session alive. `user_session_spent_tokens` keeps the chain: any spent token
presented again revokes its session (issue 12, finding 4). Rows go with their session.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mboa.kit.migration import grant

revision: str = "0002_refresh_token_chain"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_session_spent_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(40),
            sa.ForeignKey("user_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_user_session_spent_tokens_session_id", "user_session_spent_tokens", ["session_id"]
    )
    grant("user_session_spent_tokens", app="SELECT, INSERT")
    op.execute(
        "INSERT INTO user_session_spent_tokens (token_hash, session_id, spent_at)"
        " SELECT previous_token_hash, id, coalesce(rotated_at, created_at) FROM user_sessions"
        " WHERE previous_token_hash IS NOT NULL"
    )
    op.drop_index("ix_user_sessions_previous_token_hash", table_name="user_sessions")
    op.drop_column("user_sessions", "previous_token_hash")


def downgrade() -> None:
    op.add_column("user_sessions", sa.Column("previous_token_hash", sa.String(64)))
    op.execute(
        "UPDATE user_sessions s SET previous_token_hash = (SELECT t.token_hash"
        " FROM user_session_spent_tokens t WHERE t.session_id = s.id"
        " ORDER BY t.spent_at DESC LIMIT 1)"
    )
    op.create_index(
        "ix_user_sessions_previous_token_hash", "user_sessions", ["previous_token_hash"]
    )
    op.drop_table("user_session_spent_tokens")
