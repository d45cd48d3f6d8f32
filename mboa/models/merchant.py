from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, MetadataMixin, Model


class MerchantStatus(enum.StrEnum):
    sandbox = "sandbox"
    """New merchants: test mode only, no live keys."""
    submitted = "submitted"
    """The owner submitted the business profile and documents (KYC): staff review them."""
    rejected = "rejected"
    """Staff refused the submission (`rejection_reason`); the owner may fix it and submit again."""
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
    support_email: Mapped[str | None] = mapped_column(String(320))
    """Shown to the merchant's customers (receipts, payment pages)."""
    support_phone: Mapped[str | None] = mapped_column(String(20))
    payout_phone: Mapped[str | None] = mapped_column(String(20))
    """The default payout wallet (E.164), proposed first when a payout is requested."""
    payout_provider: Mapped[str | None] = mapped_column(String(20))
    submitted_at: Mapped[dt.datetime | None] = mapped_column()
    """When the owner last submitted the KYC (docs/going-live.md)."""
    rejected_at: Mapped[dt.datetime | None] = mapped_column()
    rejection_reason: Mapped[str | None] = mapped_column(String(500))
    logo_key: Mapped[str | None] = mapped_column(String(200))
    """The merchant's logo in object storage (`merchants/<id>/logo/…`, docs/storage.md)."""


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
    notify_payout_paid: Mapped[bool | None] = mapped_column()
    """The member's e-mail preferences; None: their role's default (mboa/mail/service.py)."""
    notify_payout_failed: Mapped[bool | None] = mapped_column()
    notify_webhook_disabled: Mapped[bool | None] = mapped_column()
