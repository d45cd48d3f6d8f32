from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, MerchantOwnedMixin, MetadataMixin, Model


class WebhookEndpointStatus(enum.StrEnum):
    enabled = "enabled"
    disabled = "disabled"


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    """Not delivered yet: an attempt is due or running (or a retry is scheduled)."""
    succeeded = "succeeded"
    failed = "failed"
    """Given up: retries ran out, or the endpoint was disabled or deleted."""


class WebhookEndpoint(MerchantOwnedMixin, MetadataMixin, Model):
    """A merchant's URL that receives events (`we_…`), per mode (docs/webhooks.md)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_webhook_endpoints_tenant", "merchant_id", "livemode", "id"),
        # What the fan-out trigger asks for each statement that writes events.
        Index(
            "ix_webhook_endpoints_enabled",
            "merchant_id",
            "livemode",
            postgresql_where=text("status = 'enabled' AND deleted_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    enabled_events: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(40))
    disabled_at: Mapped[dt.datetime | None] = mapped_column()
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    """The signing secret, AES-256-GCM encrypted (mboa/webhooks/crypto.py): never in clear."""
    previous_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The secret before the last roll, still signing until `previous_secret_expires_at`."""
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column()
    failing_since: Mapped[dt.datetime | None] = mapped_column()
    """The first failed attempt since the last success (disabling counts from it)."""
    deleted_at: Mapped[dt.datetime | None] = mapped_column()


class WebhookDelivery(MerchantOwnedMixin, Model):
    """One event to one endpoint: the unit that is retried, resent and logged."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id"),
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"]),
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), nullable=False)
    """No foreign key: events are pruned after their retention, their deliveries' log stays."""
    event_type: Mapped[str] = mapped_column(String(80), nullable=False)
    endpoint_id: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    """When the automatic schedule tries next; None once it has ended (or for a resend only)."""
    leased_until: Mapped[dt.datetime | None] = mapped_column()
    """An attempt is running until then; a worker killed mid-attempt leaves it to lapse."""
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    succeeded_at: Mapped[dt.datetime | None] = mapped_column()


class WebhookAttempt(MerchantOwnedMixin, Model):
    """One HTTP attempt of a delivery: the delivery log (`created_at` is when it was made)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        ForeignKeyConstraint(["delivery_id"], ["webhook_deliveries.id"]),
        Index("ix_webhook_attempts_delivery_id", "delivery_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(40), nullable=False)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)
    """`automatic` (the schedule) or `resend` (asked for through the API)."""
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    http_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    """The first 2 KB of the answer."""
    error: Mapped[str | None] = mapped_column(String(500))
    next_retry_at: Mapped[dt.datetime | None] = mapped_column()


class Notification(CreatedMixin, Model):
    """An e-mail to send, recorded durably in the transaction that has something to say: the
    mailer's queue (mboa/mail/, docs/dashboard.md "E-mail"). `mail.send` renders it in each
    recipient's language from `kind` and `data`, sends it and sets `sent_at`. A notice to a
    user who may belong to no merchant (a password reset) has no `merchant_id`."""

    __tablename__ = "notifications"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_notifications_merchant_id", "merchant_id", "id"),
        Index("ix_notifications_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(nullable=False)
    kind: Mapped[str] = mapped_column(String(80), nullable=False)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    recipients: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
