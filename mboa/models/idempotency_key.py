from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, Model


class IdempotencyKey(MerchantOwnedMixin, Model):
    """The first response to a POST carrying `Idempotency-Key`, replayed to any retry."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    request_method: Mapped[str] = mapped_column(String(10), nullable=False)
    request_path: Mapped[str] = mapped_column(String(500), nullable=False)
    request_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    locked_at: Mapped[dt.datetime | None] = mapped_column()
    """Set while the first request runs; a concurrent duplicate gets 409."""
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column()
    completed_at: Mapped[dt.datetime | None] = mapped_column()
