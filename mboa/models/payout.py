from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
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


class Disbursement(MerchantOwnedMixin, Model):
    """One transfer of ours to a wallet through an operator (`dsb_…`), for a payout or (later) a
    refund: `source_type` + `source_id` name the owner. Our operator reference is stored before
    any call, so a retry re-sends the same one (docs/providers.md, "The reference contract")."""

    __tablename__ = "disbursements"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        UniqueConstraint("provider", "operator_reference"),
        Index("ix_disbursements_source_id", "source_id"),
        Index("ix_disbursements_due", "status", "next_check_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_type: Mapped[str] = mapped_column(String(20), nullable=False)
    """`payout` (`po_…`) or `refund` (`re_…`)."""
    source_id: Mapped[str] = mapped_column(String(40), nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    """`pending` (not sent, or with the operator), `succeeded`, `failed`, `canceled` (never
    sent)."""
    operator_reference: Mapped[str | None] = mapped_column(String(200))
    """MTN X-Reference-Id (set at creation), Orange payToken (`cashin/init`, stored by the
    worker before `cashin/pay`)."""
    operator_transaction_id: Mapped[str | None] = mapped_column(String(200))
    failure_code: Mapped[str | None] = mapped_column(String(40))
    raw_status: Mapped[str | None] = mapped_column(String(100))
    raw_reason: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    next_check_at: Mapped[dt.datetime | None] = mapped_column()
    """When the status task next reads the operator's status (lost callbacks)."""
    status_checks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
