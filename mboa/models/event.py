from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, Model


class Event(MerchantOwnedMixin, Model):
    """Something that happened to a merchant's object (`evt_…`): written in the transaction that
    changed the object, with a snapshot of it (docs/api-conventions.md §D5, docs/events.md).
    Append-only; pruned after the retention (`events.prune`)."""

    __tablename__ = "events"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_events_tenant", "merchant_id", "livemode", "id"),
        Index("ix_events_object_id", "object_id"),
        # The event stream's order, test mode only (the only mode it serves): live inserts do not
        # pay for this index.
        Index(
            "ix_events_stream",
            "merchant_id",
            "xact_id",
            "id",
            postgresql_where=text("NOT livemode"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(80), nullable=False)
    """Dot-separated: `payment_intent.succeeded`."""
    object_id: Mapped[str] = mapped_column(String(40), nullable=False)
    """The id of the object in `data` (for "events of this payment")."""
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    """`{"object": <the object as the API renders it>, "previous_attributes": {…}}` (the second
    on events that describe a change of an existing object)."""
    sequence: Mapped[int] = mapped_column(BigInteger, nullable=False)
    """1, 2, 3… per `object_id` in commit order: set by the `event_sequence` trigger
    (mboa/events/sql/event_sequence.sql), never by a writer."""
    xact_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    """The writing transaction's id (`pg_current_xact_id()`), set by the same trigger: the event
    stream's position. Not part of the API."""
    request_id: Mapped[str | None] = mapped_column(String(40))
    """The API request that caused the event (`req_…`); none for the worker's."""
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    """That request's `Idempotency-Key`, if it sent one."""


class EventSequence(Model):
    """The last `sequence` given to an object's events (kept by the `event_sequence` trigger).
    It outlives the events' retention, so an object's numbering never restarts."""

    __tablename__ = "event_sequences"
    __table_args__ = (ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),)

    object_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), nullable=False)
    livemode: Mapped[bool] = mapped_column(nullable=False)
    last_sequence: Mapped[int] = mapped_column(BigInteger, nullable=False)
