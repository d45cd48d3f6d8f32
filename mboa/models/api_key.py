from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, Model


class ApiKeyType(enum.StrEnum):
    secret = "secret"
    """`sk_…`: full access to the merchant's API in its mode."""
    publishable = "publishable"
    """`pk_…`: safe in a browser; only publishable endpoints."""
    restricted = "restricted"
    """`rk_…`: only the scopes it lists (`customers:read`, …)."""


class ApiKey(MerchantOwnedMixin, Model):
    """An API key. The secret itself is never stored: only its SHA-256 and its last 4 characters."""

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("secret_hash"),
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_api_keys_tenant", "merchant_id", "livemode", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[ApiKeyType] = mapped_column(
        Enum(ApiKeyType, name="api_key_type", native_enum=False, length=20), nullable=False
    )
    name: Mapped[str | None] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    prefix: Mapped[str] = mapped_column(String(10), nullable=False)
    last4: Mapped[str] = mapped_column(String(4), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(60)), nullable=False, default=list)
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    """Set explicitly, or by a roll: the old key keeps working until then."""
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    rolled_to: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(String(40))
    last_used_at: Mapped[dt.datetime | None] = mapped_column()
