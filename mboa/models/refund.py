from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, MetadataMixin, Model


class Refund(MerchantOwnedMixin, MetadataMixin, Model):
    """Money given back to the payer of a payment intent (`re_…`, docs/refunds.md), sent as a
    disbursement to the wallet that paid. Its status moves only through `mboa.refunds.states`."""

    __tablename__ = "refunds"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        ForeignKeyConstraint(["payment_intent_id"], ["payment_intents.id"]),
        Index("ix_refunds_tenant", "merchant_id", "livemode", "id"),
        Index("ix_refunds_payment_intent_id", "payment_intent_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_intent_id: Mapped[str] = mapped_column(String(40), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    """What the payer gets back."""
    fee_returned: Mapped[int] = mapped_column(BigInteger, nullable=False)
    """The share of the payment's fee given back to the merchant with it (docs/refunds.md)."""
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    """The payer's wallet, E.164 (the intent's succeeded attempt)."""
    phone_masked: Mapped[str] = mapped_column(String(20), nullable=False)
    failure_reason: Mapped[str | None] = mapped_column(String(40))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    succeeded_at: Mapped[dt.datetime | None] = mapped_column()
    failed_at: Mapped[dt.datetime | None] = mapped_column()
    disbursement_id: Mapped[str] = mapped_column(String(40), nullable=False)
    reserve_transaction_id: Mapped[str] = mapped_column(String(40), nullable=False)
    """The ledger's pending transfer (available → reserved) made at creation."""


class RefundDisbursement(MerchantOwnedMixin, Model):
    """One transfer of ours to the payer's wallet for a refund (`rdsb_…`). The same shape as the
    payouts' `disbursements` (source_type + source_id) so both can fold into one table; our
    operator reference is stored before any call, so a retry re-sends the same one."""

    __tablename__ = "refund_disbursements"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        UniqueConstraint("provider", "operator_reference"),
        Index("ix_refund_disbursements_source_id", "source_id"),
        Index("ix_refund_disbursements_due", "status", "next_check_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_type: Mapped[str] = mapped_column(String(20), nullable=False)
    """`refund` (`re_…`)."""
    source_id: Mapped[str] = mapped_column(String(40), nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    """`pending` (not sent, or with the operator), `succeeded`, `failed`."""
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
