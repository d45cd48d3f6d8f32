"""The KYC rows. These routes run as the platform role (no row-level security): every statement
names its merchant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from mboa.kit.repository import RepositoryBase
from mboa.models import KycDocument, MerchantProfile, RiskNote


class ProfileRepository(RepositoryBase[MerchantProfile]):
    model = MerchantProfile

    async def of_merchant(self, merchant_id: str) -> MerchantProfile | None:
        return await self.get_one_or_none(
            select(MerchantProfile).where(MerchantProfile.merchant_id == merchant_id)
        )


class DocumentRepository(RepositoryBase[KycDocument]):
    model = KycDocument

    async def of_merchant(self, merchant_id: str) -> Sequence[KycDocument]:
        """Every document of the merchant, newest first."""
        result = await self.session.execute(
            select(KycDocument)
            .where(KycDocument.merchant_id == merchant_id)
            .order_by(KycDocument.id.desc())
        )
        return result.scalars().all()

    async def get_of_merchant(self, merchant_id: str, document_id: str) -> KycDocument | None:
        return await self.get_one_or_none(
            select(KycDocument).where(
                KycDocument.merchant_id == merchant_id, KycDocument.id == document_id
            )
        )


class RiskNoteRepository(RepositoryBase[RiskNote]):
    model = RiskNote

    async def of_merchant(self, merchant_id: str) -> Sequence[RiskNote]:
        result = await self.session.execute(
            select(RiskNote).where(RiskNote.merchant_id == merchant_id).order_by(RiskNote.id.desc())
        )
        return result.scalars().all()
