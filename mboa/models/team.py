from __future__ import annotations

import datetime as dt

from sqlalchemy import Enum, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, Model
from mboa.models.merchant import MemberRole


class Invitation(CreatedMixin, Model):
    """An e-mailed invitation to join a merchant's team with a role (`inv_…`). Only the hash of
    its link's token is stored; it is accepted once, before `expires_at`, unless revoked."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        ForeignKeyConstraint(["invited_by"], ["users.id"]),
        Index("ix_invitations_merchant_id", "merchant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    """Lower-cased."""
    role: Mapped[MemberRole] = mapped_column(
        Enum(MemberRole, name="member_role", native_enum=False, length=20), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    invited_by: Mapped[str] = mapped_column(String(40), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    accepted_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class PasswordReset(CreatedMixin, Model):
    """A password-reset link sent to a user (`pwr_…`): only its token's hash is stored; it works
    once, before `expires_at`."""

    __tablename__ = "password_resets"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        ForeignKeyConstraint(["user_id"], ["users.id"]),
        Index("ix_password_resets_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column()
