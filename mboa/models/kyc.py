"""Going live (issue 17, docs/going-live.md): the business profile a merchant's owner submits,
the documents that prove it, and the notes platform staff keep about a merchant."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mboa.kit.db import CreatedMixin, Model


class MerchantProfile(CreatedMixin, Model):
    """One per merchant (account-level: not mode-scoped). Every field may be empty until the
    owner submits; the submission checks they are all there."""

    __tablename__ = "merchant_profiles"
    __table_args__ = (ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),)

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    legal_name: Mapped[str | None] = mapped_column(String(200))
    rccm_number: Mapped[str | None] = mapped_column(String(60))
    """Registre du Commerce et du Crédit Mobilier, e.g. `RC/DLA/2024/B/1234`."""
    niu_number: Mapped[str | None] = mapped_column(String(30))
    """Numéro d'Identifiant Unique (tax number), e.g. `M012345678901A`."""
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    activity: Mapped[str | None] = mapped_column(String(200))
    expected_monthly_volume: Mapped[int | None] = mapped_column(BigInteger)
    """XAF (no minor unit)."""
    settlement_phone: Mapped[str | None] = mapped_column(String(20))
    """E.164 (`providers.phone.parse_phone`)."""
    settlement_operator: Mapped[str | None] = mapped_column(String(20))
    representative_name: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime | None] = mapped_column()


class KycDocument(CreatedMixin, Model):
    """A file the owner uploaded (`kdoc_…`). The bytes are in the document store under
    `storage_key`; the newest row of each kind is the one staff review."""

    __tablename__ = "kyc_documents"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_kyc_documents_merchant_id", "merchant_id", "kind", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    """`representative_id`, `business_registration`, `proof_of_address`."""
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(300), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    """Sniffed from the bytes, never taken from the upload's header."""
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    uploaded_by: Mapped[str | None] = mapped_column(String(40))


class RiskNote(CreatedMixin, Model):
    """A note platform staff write about a merchant (`rnote_…`); merchants never see them."""

    __tablename__ = "merchant_risk_notes"
    __table_args__ = (
        ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        Index("ix_merchant_risk_notes_merchant_id", "merchant_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(40), nullable=False)
    author_id: Mapped[str] = mapped_column(String(40), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
