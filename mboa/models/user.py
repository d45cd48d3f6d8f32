from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, Model


class User(CreatedMixin, Model):
    """A person who signs in to the dashboard. Not merchant-owned: one user can join many merchants."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    """Stored lower-cased; unique."""
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    """Platform staff (`platform_admin`): validate, approve and suspend merchants."""
    staff_role: Mapped[str | None] = mapped_column(String(20))
    """Platform staff's role in the console (`support`, `compliance`, `finance`, `superadmin`;
    docs/going-live.md); None: not staff. `is_platform_admin` counts as `superadmin`."""
    disabled_at: Mapped[dt.datetime | None] = mapped_column()
    locale: Mapped[str | None] = mapped_column(String(5))
    """The language chosen in the dashboard (`fr`, `en`); None: the browser's."""
    # Two-factor sign-in (TOTP, docs/dashboard.md "Two-factor sign-in"): the secret is AES-256-GCM
    # encrypted (mboa/users/two_factor.py), bound to the user's id; never stored in clear.
    totp_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Set while enrolling (not yet enabled) and once enabled; cleared when disabled."""
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column()
    """When a first code confirmed the secret: two-factor sign-in is on from then."""
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    """The last 30-second time step whose code was accepted: no code is accepted twice."""


class UserRecoveryCode(Model):
    """A one-time recovery code of a user with two-factor sign-in: SHA-256 of the user's id and
    the code (never the code itself); `used_at` once spent. Not merchant-owned (like users)."""

    __tablename__ = "user_recovery_codes"
    __table_args__ = (
        ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        Index("ix_user_recovery_codes_user_id", "user_id"),
    )

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column()
