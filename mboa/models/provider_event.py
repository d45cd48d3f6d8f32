from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import Model


class CallbackVerification(enum.StrEnum):
    """What could be checked on receipt. Never proof: the status read is (docs/providers-wire.md §1.9)."""

    not_applicable = "not_applicable"
    """The operator sends nothing checkable (MTN, Orange omcoreapis)."""
    unchecked = "unchecked"
    """A WebPay `notif_token` came, but we did not know the expected one."""
    passed = "passed"
    failed = "failed"


class CallbackResult(enum.StrEnum):
    """How the confirmation of one stored callback ended (`ProviderEvent.result`)."""

    confirmed = "confirmed"
    """The operator's status read answered; `confirmed_status` is its word, not the callback's."""
    no_reference = "no_reference"
    """Nothing to read the status with (MTN often omits the reference, §1.9)."""
    invalid_reference = "invalid_reference"
    """The body named a reference that cannot be an operator reference; not sent to the operator."""
    not_found = "not_found"
    """The operator does not know the reference the callback named."""
    unparseable = "unparseable"
    """The body could not be parsed; kept for audit, nothing to confirm."""
    token_mismatch = "token_mismatch"
    """WebPay `notif_token` differs from the one Orange gave us at init (§2.1)."""
    operator_unavailable = "operator_unavailable"
    """The status read kept failing; the payment poller remains the safety net."""
    error = "error"
    """A permanent error (configuration, disabled provider…); see `result_detail`."""


class ProviderEvent(Model):
    """An inbound operator callback, stored before anything else happens.

    A callback is a hint only: no operator signs them and MTN sends each once (docs/providers-wire.md
    §1.9, §2.1, §2.2). It is stored and de-duplicated here, then a job confirms it by a status read.
    Not merchant-owned yet (the attempt -> merchant link comes with payments): platform role only.
    """

    __tablename__ = "provider_events"
    __table_args__ = (
        UniqueConstraint("provider", "dedupe_key"),
        Index("ix_provider_events_attempt_id", "attempt_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    attempt_id: Mapped[str] = mapped_column(String(100), nullable=False)
    """Our own record id, from the callback URL path we gave the operator."""
    http_method: Mapped[str] = mapped_column(String(10), nullable=False)
    operator_reference: Mapped[str | None] = mapped_column(String(200))
    """MTN X-Reference-Id / Orange payToken, when the body carries one."""
    operator_transaction_id: Mapped[str | None] = mapped_column(String(200))
    claimed_status: Mapped[str | None] = mapped_column(String(20))
    """The neutral status the callback claims (a hint; NULL when unparseable)."""
    raw_status: Mapped[str | None] = mapped_column(String(100))
    verification: Mapped[str] = mapped_column(String(20), nullable=False)
    parse_error: Mapped[str | None] = mapped_column(String(500))
    dedupe_key: Mapped[str] = mapped_column(String(100), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    body_truncated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    headers: Mapped[dict[str, str]] = mapped_column(nullable=False, server_default="{}")
    client_address: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), nullable=False)
    duplicate_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_seen_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), nullable=False)
    processed_at: Mapped[dt.datetime | None] = mapped_column()
    result: Mapped[str | None] = mapped_column(String(30))
    confirmed_status: Mapped[str | None] = mapped_column(String(20))
    """The operator's own answer to the status read (`TransactionStatus`)."""
    result_detail: Mapped[dict[str, Any] | None] = mapped_column()
