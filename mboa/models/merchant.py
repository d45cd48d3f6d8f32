from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, MetadataMixin, Model


class MerchantStatus(enum.StrEnum):
    sandbox = "sandbox"
    """New merchants: test mode only, no live keys."""
    active = "active"
    """Approved by platform staff: live keys may be created."""
    suspended = "suspended"
    """Live mode is blocked; test mode keeps working so the integration can be fixed."""


class MemberRole(enum.StrEnum):
    owner = "owner"
    admin = "admin"
    developer = "developer"
    analyst = "analyst"
    """Read-only."""


class Merchant(CreatedMixin, MetadataMixin, Model):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False, default="CM")
    default_currency: Mapped[str] = mapped_column(String(3), nullable=False, default="XAF")
    status: Mapped[MerchantStatus] = mapped_column(
        Enum(MerchantStatus, name="merchant_status", native_enum=False, length=20),
        nullable=False,
        default=MerchantStatus.sandbox,
    )
    approved_at: Mapped[dt.datetime | None] = mapped_column()
    approved_by: Mapped[str | None] = mapped_column(String(40))
    suspended_at: Mapped[dt.datetime | None] = mapped_column()
    suspension_reason: Mapped[str | None] = mapped_column(String(500))


class MerchantMember(CreatedMixin, Model):
    """A user's role on one merchant's team (account-level, so not mode-scoped)."""

    __tablename__ = "merchant_members"
    __table_args__ = (
        UniqueConstraint("merchant_id", "user_id"),
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        ForeignKeyConstraint(["user_id"], ["users.id"]),
        Index("ix_merchant_members_user_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), nullable=False)
    user_id: Mapped[str] = mapped_column(String(40), nullable=False)
    role: Mapped[MemberRole] = mapped_column(
        Enum(MemberRole, name="member_role", native_enum=False, length=20), nullable=False
    )
