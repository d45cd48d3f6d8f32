from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, Model


class UserSession(CreatedMixin, Model):
    """One login. Its refresh token rotates on every use; any spent token of the session presented
    again revokes it (`SpentRefreshToken`)."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        UniqueConstraint("refresh_token_hash"),
        ForeignKeyConstraint(["user_id"], ["users.id"]),
        Index("ix_user_sessions_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), nullable=False)
    refresh_token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    rotated_at: Mapped[dt.datetime | None] = mapped_column()


class SpentRefreshToken(Model):
    """Every refresh token a session has used up: the chain of its rotations. Presenting any of
    them again means a token leaked, however many rotations ago, so the session is revoked."""

    __tablename__ = "user_session_spent_tokens"
    __table_args__ = (
        ForeignKeyConstraint(["session_id"], ["user_sessions.id"], ondelete="CASCADE"),
        Index("ix_user_session_spent_tokens_session_id", "session_id"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(40), nullable=False)
    spent_at: Mapped[dt.datetime] = mapped_column(nullable=False)
