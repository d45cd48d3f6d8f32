from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, MetadataMixin, Model


class Customer(MerchantOwnedMixin, MetadataMixin, Model):
    """A merchant's customer: who pays, with their mobile-money number."""

    __tablename__ = "customers"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_customers_tenant", "merchant_id", "livemode", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    """E.164, e.g. +237670000000."""
    description: Mapped[str | None] = mapped_column(String(500))
    deleted_at: Mapped[dt.datetime | None] = mapped_column()
