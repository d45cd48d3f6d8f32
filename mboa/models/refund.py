from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String
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
    drawn_from_pending: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    """What the reservation drew from the payment's own pending funds (docs/refunds.md,
    "Funding"): deferred again until `drawn_until` should the refund fail."""
    drawn_until: Mapped[dt.datetime | None] = mapped_column()
    """When those funds would have settled (the payment's `available_on`)."""
