from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, MetadataMixin, Model


class Payout(MerchantOwnedMixin, MetadataMixin, Model):
    """Money sent from a merchant's available balance to a mobile-money wallet (`po_…`,
    docs/payouts.md). Its status moves only through `mboa.payouts.states`."""

    __tablename__ = "payouts"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_payouts_tenant", "merchant_id", "livemode", "id"),
        Index("ix_payouts_review", "review_status", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    """The destination wallet, E.164."""
    phone_masked: Mapped[str] = mapped_column(String(20), nullable=False)
    review_status: Mapped[str] = mapped_column(String(20), nullable=False)
    """`not_required`, or for a live payout above the threshold `awaiting` → `approved` |
    `rejected` (staff)."""
    reviewed_by: Mapped[str | None] = mapped_column(String(40))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column()
    failure_code: Mapped[str | None] = mapped_column(String(40))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    cancellation_reason: Mapped[str | None] = mapped_column(String(40))
    canceled_at: Mapped[dt.datetime | None] = mapped_column()
    paid_at: Mapped[dt.datetime | None] = mapped_column()
    failed_at: Mapped[dt.datetime | None] = mapped_column()
    disbursement_id: Mapped[str] = mapped_column(String(40), nullable=False)
    reserve_transaction_id: Mapped[str] = mapped_column(String(40), nullable=False)
    """The ledger's pending transfer (available → reserved) made at creation."""
