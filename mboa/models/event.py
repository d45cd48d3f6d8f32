from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, Model


class Event(MerchantOwnedMixin, Model):
    """Something that happened to a merchant's object (`evt_…`): written in the transaction that
    changed the object, with a snapshot of it (docs/api-conventions.md §D5). Append-only."""

    __tablename__ = "events"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_events_tenant", "merchant_id", "livemode", "id"),
        Index("ix_events_object_id", "object_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(80), nullable=False)
    """Dot-separated: `payment_intent.succeeded`."""
    object_id: Mapped[str] = mapped_column(String(40), nullable=False)
    """The id of the object in `data` (for "events of this payment")."""
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    """`{"object": <the object as the API renders it>}`."""
