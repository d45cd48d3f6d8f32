from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import MerchantOwnedMixin, Model


class OperatorDiscrepancy(MerchantOwnedMixin, Model):
    """An operator's report that contradicts what we recorded as final (`odis_…`): a transfer or
    a collection we hold as succeeded that the operator later reports failed (or the reverse),
    or another amount than ours. Money that moved on a wallet is final, so nothing is re-posted:
    the row is for support and reconciliation (docs/disbursements.md, "Discrepancies")."""

    __tablename__ = "operator_discrepancies"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        # A repeated report (a retried task, a second callback) is one row.
        UniqueConstraint("object_id", "kind", "reported_status"),
        Index("ix_operator_discrepancies_tenant", "merchant_id", "livemode", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    """`failed_after_success`, `succeeded_after_failure` or `amount_mismatch`."""
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    object_id: Mapped[str] = mapped_column(String(40), nullable=False)
    """Our object: `po_…`, `re_…` or `pi_…`."""
    transfer_id: Mapped[str] = mapped_column(String(40), nullable=False)
    """The operator call it concerns: `dsb_…`, `rdsb_…` or `pat_…`."""
    operator_reference: Mapped[str | None] = mapped_column(String(200))
    our_status: Mapped[str] = mapped_column(String(20), nullable=False)
    our_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reported_status: Mapped[str] = mapped_column(String(20), nullable=False)
    reported_amount: Mapped[int | None] = mapped_column(BigInteger)
    reported_raw_status: Mapped[str | None] = mapped_column(String(100))
    reported_at: Mapped[dt.datetime] = mapped_column(nullable=False)
