from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, Model


class UserSession(CreatedMixin, Model):
    """One login. Its refresh token rotates on every use; a reused old token revokes the session."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        UniqueConstraint("refresh_token_hash"),
        ForeignKeyConstraint(["user_id"], ["users.id"]),
        Index("ix_user_sessions_previous_token_hash", "previous_token_hash"),
        Index("ix_user_sessions_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), nullable=False)
    refresh_token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    previous_token_hash: Mapped[str | None] = mapped_column(String(64))
    """The token this one replaced: presenting it again means the token leaked."""
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    rotated_at: Mapped[dt.datetime | None] = mapped_column()
