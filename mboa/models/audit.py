"""The audit log (issue 17 item 4, docs/audit.md): one append-only, hash-chained row per sensitive
action, and the chain's head (the last row's position and hash), which serializes appends."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import Model

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first row."""


class AuditLog(Model):
    """One action. Written only by `mboa_audit_append` (audit/sql/audit_log.sql); UPDATE, DELETE
    and TRUNCATE are refused by a trigger, for the table's owner too."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("uq_audit_log_seq", "seq", unique=True),
        Index("ix_audit_log_merchant", "merchant_id", "id"),
        Index("ix_audit_log_action", "action", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    """The row's position in the chain: 1, 2, 3… without gaps (a deleted row shows as a gap)."""
    created_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    """NULL: a platform-wide action (a sign-in, a staff action on no merchant)."""
    livemode: Mapped[bool | None] = mapped_column(Boolean)
    actor_type: Mapped[str] = mapped_column(String(20), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(40))
    actor_label: Mapped[str | None] = mapped_column(String(320))
    """The user's email, or the key's redacted form (`sk_test_…abcd`)."""
    action: Mapped[str] = mapped_column(String(80), nullable=False)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(40))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditChainHead(Model):
    """The one row naming the chain's last position and hash; `mboa_audit_append` locks it
    (SELECT … FOR UPDATE) so that concurrent appends queue instead of forking the chain."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id", name="single_row"),)

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=text("true"))
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
