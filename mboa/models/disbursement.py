from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, Model


class Disbursement(MerchantOwnedMixin, Model):
    """One transfer of ours to a wallet through an operator, for a payout (`dsb_…`) or a refund
    (`rdsb_…`): `source_type` + `source_id` name the owner (docs/disbursements.md). Our operator
    reference is stored before any call, so a retry re-sends the same one (docs/providers.md,
    "The reference contract")."""

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
