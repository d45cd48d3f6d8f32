from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, Model


class OutboxMessage(CreatedMixin, Model):
    """A job written in the same transaction as the change that needs it, then relayed to BullMQ.

    The API role may only INSERT here; the relay (platform role) reads and marks rows. A crash or a
    Redis outage between commit and relay delays the job; it never loses it.
    """

    __tablename__ = "outbox"
    # The API role has INSERT but not SELECT here, so inserts must not ask for RETURNING.
    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=text("relayed_at IS NULL")),
        {"implicit_returning": False},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(100), nullable=False)
    queue: Mapped[str] = mapped_column(String(50), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    job_id: Mapped[str] = mapped_column(String(100), nullable=False)
    """BullMQ job id: relaying the same row twice cannot create two jobs."""
    delay_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    relayed_at: Mapped[dt.datetime | None] = mapped_column()
    relay_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
