from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, String, Text, UniqueConstraint
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
    disabled_at: Mapped[dt.datetime | None] = mapped_column()
