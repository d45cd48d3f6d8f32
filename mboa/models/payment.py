from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, MetadataMixin, Model


class PaymentIntent(MerchantOwnedMixin, MetadataMixin, Model):
    """A merchant's request for money (`pi_…`), collected by one or more attempts
    (docs/payments.md). Its status moves only through `mboa.payments.states`."""

    __tablename__ = "payment_intents"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        UniqueConstraint("merchant_id", "livemode", "reference"),
        Index("ix_payment_intents_tenant", "merchant_id", "livemode", "id"),
        Index("ix_payment_intents_expiring", "status", "expires_at"),
        # The dashboard's search (any part of a reference or a phone number) and filters.
        Index(
            "ix_payment_intents_reference_trgm",
            "reference",
            postgresql_using="gin",
            postgresql_ops={"reference": "gin_trgm_ops"},
        ),
        Index(
            "ix_payment_intents_phone_trgm",
            "phone",
            postgresql_using="gin",
            postgresql_ops={"phone": "gin_trgm_ops"},
        ),
        Index("ix_payment_intents_tenant_status", "merchant_id", "livemode", "status", "id"),
        Index("ix_payment_intents_tenant_customer", "merchant_id", "livemode", "customer_id", "id"),
        Index(
            "ix_payment_intents_tenant_succeeded",
            "merchant_id",
            "livemode",
            "succeeded_at",
            postgresql_where=text("succeeded_at IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reference: Mapped[str | None] = mapped_column(String(100))
    """The merchant's own reference, unique per merchant and mode."""
    description: Mapped[str | None] = mapped_column(String(500))
    customer_id: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(40), nullable=False)
    cancellation_reason: Mapped[str | None] = mapped_column(String(40))
    canceled_at: Mapped[dt.datetime | None] = mapped_column()
    succeeded_at: Mapped[dt.datetime | None] = mapped_column()
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    provider: Mapped[str | None] = mapped_column(String(20))
    """The operator of the latest attempt (or the one asked for at creation)."""
    phone: Mapped[str | None] = mapped_column(String(20))
    """E.164 of the latest attempt's payer (or the one given at creation)."""
    amount_received: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    fee: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    net: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refund_due: Mapped[bool] = mapped_column(nullable=False, default=False)
    """A success arrived after the intent was canceled: the money is on the ledger and must go
    back to the payer (docs/payments.md, "Late successes")."""
    last_payment_error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    latest_attempt_id: Mapped[str | None] = mapped_column(String(40))
    ledger_transaction_id: Mapped[str | None] = mapped_column(String(40))


class PaymentAttempt(MerchantOwnedMixin, Model):
    """One try at collecting an intent through an operator (`pat_…`). Our operator reference is
    stored before any call, so a retry re-sends the same one (docs/providers.md). Refunds and
    payouts keep their disbursements in a table of the same shape."""

    __tablename__ = "payment_attempts"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        ForeignKeyConstraint(["payment_intent_id"], ["payment_intents.id"]),
        UniqueConstraint("provider", "operator_reference"),
        Index("ix_payment_attempts_payment_intent_id", "payment_intent_id"),
        Index("ix_payment_attempts_due", "status", "next_check_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_intent_id: Mapped[str] = mapped_column(String(40), nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    flow: Mapped[str] = mapped_column(String(10), nullable=False)
    """`push` (prompt on the phone) or `redirect` (Orange WebPay page)."""
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    """`pending` (waiting for the operator), `succeeded` or `failed`."""
    operator_reference: Mapped[str | None] = mapped_column(String(200))
    """MTN X-Reference-Id (set at creation), Orange payToken (set by the worker's `mp/init`
    before `mp/pay`), WebPay pay_token."""
    operator_transaction_id: Mapped[str | None] = mapped_column(String(200))
    failure_code: Mapped[str | None] = mapped_column(String(40))
    raw_status: Mapped[str | None] = mapped_column(String(100))
    raw_reason: Mapped[str | None] = mapped_column(String(200))
    redirect_url: Mapped[str | None] = mapped_column(String(1000))
    notification_token: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    """When the operator accepted the request."""
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    next_check_at: Mapped[dt.datetime | None] = mapped_column()
    """When the janitor next reads the operator's status (lost callbacks)."""
    status_checks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
