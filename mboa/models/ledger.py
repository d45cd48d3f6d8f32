"""Ledger tables (the baseline migration; domains and row checks in mboa/ledger/sql/). Rows are
written only by the ledger's SQL functions; these mappings are for reading. Amounts are integer
minor units, credit positive (a merchant's money is a positive balance; money held at an
operator is negative)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import DOMAIN, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import Model


def _domain(name: str, base: Any) -> DOMAIN:
    """A domain of ledger/sql/domains.sql (created by the migrations, not by SQLAlchemy); it
    compares and sorts as its base type."""
    domain = DOMAIN(name, base, create_type=False)
    domain.operator_classes = base.operator_classes  # type: ignore[misc]
    return domain


CURRENCY = CHAR(3)


class LedgerAccount(Model):
    """One account: per merchant, mode, currency and kind, or a platform account (no merchant).

    Hot platform accounts (fee revenue, operator floats) exist as `shard` 0…N-1 sub-accounts.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        Index(
            "uq_ledger_accounts_key",
            func.coalesce(text("merchant_id"), ""),
            "livemode",
            "currency",
            "kind",
            "operator",
            "shard",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean, nullable=False)
    currency: Mapped[str] = mapped_column(CURRENCY, nullable=False)
    kind: Mapped[str] = mapped_column(_domain("ledger_account_kind", String(30)), nullable=False)
    operator: Mapped[str] = mapped_column(String(20), nullable=False, default="")
    shard: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)
    flags: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    """Sum of posted entries."""
    pending_debits: Mapped[int] = mapped_column(
        _domain("ledger_nonnegative", BigInteger), nullable=False, default=0
    )
    pending_credits: Mapped[int] = mapped_column(
        _domain("ledger_nonnegative", BigInteger), nullable=False, default=0
    )
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    """Number of entries on this account; entry versions run 1…version without gaps."""
    created_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(nullable=False)


class LedgerTransaction(Model):
    """A journal transaction (`txn_…`): ≥ 2 entries summing to zero per kind. Immutable.

    Rows with `bt_type` set and a merchant are that merchant's balance transactions.
    """

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_ledger_transactions_idempotency_key"),
        Index(
            "uq_ledger_transactions_parent_link",
            "parent_id",
            "link",
            unique=True,
            postgresql_where=text("parent_id IS NOT NULL"),
        ),
        Index(
            "uq_ledger_transactions_settled_or_reversed",
            "parent_id",
            unique=True,
            postgresql_where=text("link IN ('settle', 'reverse')"),
        ),
        Index(
            "ix_ledger_transactions_merchant",
            "merchant_id",
            "livemode",
            "id",
            postgresql_where=text("bt_type IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), nullable=False)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    type: Mapped[str] = mapped_column(String(30), nullable=False)
    source: Mapped[str | None] = mapped_column(String(64))
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    livemode: Mapped[bool] = mapped_column(Boolean, nullable=False)
    currency: Mapped[str] = mapped_column(CURRENCY, nullable=False)
    phase: Mapped[str] = mapped_column(_domain("ledger_phase", String(10)), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(40))
    link: Mapped[str | None] = mapped_column(_domain("ledger_link", String(10)))
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    bt_type: Mapped[str | None] = mapped_column(String(30))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    fee: Mapped[int | None] = mapped_column(BigInteger)
    net: Mapped[int | None] = mapped_column(BigInteger)
    available_on: Mapped[dt.datetime | None] = mapped_column()
    description: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(nullable=False)


class LedgerEntry(Model):
    """One leg of a transaction on one account, with the account's state right after it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_transaction_id", "transaction_id"),)

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version: Mapped[int] = mapped_column(_domain("ledger_version", BigInteger), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(40), nullable=False)
    kind: Mapped[int] = mapped_column(_domain("ledger_entry_kind", SmallInteger), nullable=False)
    """0 posted, 1 pending hold, 2 release of a hold."""
    amount: Mapped[int] = mapped_column(_domain("ledger_entry_amount", BigInteger), nullable=False)
    balance_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    pending_debits_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    pending_credits_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(nullable=False)


class LedgerFeePlan(Model):
    """Collection fees: `percent_bps` basis points of the amount plus `fixed_amount`, per operator.

    `merchant_id` NULL is the default plan. `settlement_delay_seconds` is how long collected money
    stays pending before it becomes available (86 400 = T+1).
    """

    __tablename__ = "ledger_fee_plans"
    __table_args__ = (
        Index(
            "uq_ledger_fee_plans_key",
            func.coalesce(text("merchant_id"), ""),
            "operator",
            "currency",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    operator: Mapped[str] = mapped_column(String(20), nullable=False)
    currency: Mapped[str] = mapped_column(CURRENCY, nullable=False)
    percent_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    fixed_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    settlement_delay_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(nullable=False)


class LedgerOpenPending(Model):
    """Work queue: a pending transfer with an expiry, not yet resolved."""

    __tablename__ = "ledger_open_pendings"
    __table_args__ = (Index("ix_ledger_open_pendings_expires_at", "expires_at"),)

    transaction_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(nullable=False)


class LedgerSettlementDue(Model):
    """Work queue: a collection whose net moves from pending to available on `available_on`."""

    __tablename__ = "ledger_settlement_queue"
    __table_args__ = (Index("ix_ledger_settlement_queue_available_on", "available_on"),)

    transaction_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    available_on: Mapped[dt.datetime] = mapped_column(nullable=False)
    merchant_id: Mapped[str] = mapped_column(String(40), nullable=False)
    livemode: Mapped[bool] = mapped_column(Boolean, nullable=False)
    currency: Mapped[str] = mapped_column(CURRENCY, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
