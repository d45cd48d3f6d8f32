from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKeyConstraint, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, MetadataMixin, Model


class CheckoutSession(MerchantOwnedMixin, MetadataMixin, Model):
    """A hosted payment page for one payment intent (`cs_…`, docs/checkout.md). The page's URL
    carries `url_secret` beside the id: ids are time-sortable, so guessable; the secret is not."""

    __tablename__ = "checkout_sessions"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        ForeignKeyConstraint(["payment_intent_id"], ["payment_intents.id"]),
        ForeignKeyConstraint(["payment_link_id"], ["payment_links.id"]),
        Index("ix_checkout_sessions_tenant", "merchant_id", "livemode", "id"),
        Index("ix_checkout_sessions_payment_intent_id", "payment_intent_id", unique=True),
        Index("ix_checkout_sessions_payment_link_id", "payment_link_id"),
        Index("ix_checkout_sessions_expiring", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url_secret: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    """`open`, then `complete` (the intent succeeded) or `expired`."""
    payment_intent_id: Mapped[str] = mapped_column(String(40), nullable=False)
    payment_link_id: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    success_url: Mapped[str | None] = mapped_column(String(2000))
    cancel_url: Mapped[str | None] = mapped_column(String(2000))
    completion_message: Mapped[str | None] = mapped_column(String(500))
    """Shown on success instead of redirecting (a payment link's `after_completion` message)."""
    locale: Mapped[str] = mapped_column(String(10), nullable=False)
    customer_id: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(20))
    """E.164 prefill of the number field."""
    customer_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """What a payment link collected (`name`, `note`)."""
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column()
    expired_at: Mapped[dt.datetime | None] = mapped_column()


class PaymentLink(MerchantOwnedMixin, MetadataMixin, Model):
    """A reusable URL (`plink_…`, `/l/plink_…`): each visit opens a checkout session."""

    __tablename__ = "payment_links"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_payment_links_tenant", "merchant_id", "livemode", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    """Fixed amount; NULL when the customer chooses it within `min_amount`..`max_amount`."""
    min_amount: Mapped[int | None] = mapped_column(BigInteger)
    max_amount: Mapped[int | None] = mapped_column(BigInteger)
    description: Mapped[str | None] = mapped_column(String(500))
    fields: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    """What to ask the customer besides the number: `name`, `note`."""
    after_completion_type: Mapped[str] = mapped_column(String(20), nullable=False)
    after_completion_url: Mapped[str | None] = mapped_column(String(2000))
    after_completion_message: Mapped[str | None] = mapped_column(String(500))
