from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select, text

from mboa.kit.repository import RepositoryBase
from mboa.models import MemberRole, Merchant, MerchantMember, MerchantStatus


class MerchantRepository(RepositoryBase[Merchant]):
    model = Merchant

    def list_statement(self, status: MerchantStatus | None = None) -> Select[Merchant]:
        statement = select(Merchant)
        if status is not None:
            statement = statement.where(Merchant.status == status)
        return statement


class MerchantMemberRepository(RepositoryBase[MerchantMember]):
    model = MerchantMember

    async def get_by_user(self, merchant_id: str, user_id: str) -> MerchantMember | None:
        return await self.get_one_or_none(
            select(MerchantMember).where(
                MerchantMember.merchant_id == merchant_id, MerchantMember.user_id == user_id
            )
        )

    async def get_in_merchant(self, merchant_id: str, member_id: str) -> MerchantMember | None:
        return await self.get_one_or_none(
            select(MerchantMember).where(
                MerchantMember.merchant_id == merchant_id, MerchantMember.id == member_id
            )
        )

    def list_statement(self, merchant_id: str) -> Select[MerchantMember]:
        return select(MerchantMember).where(MerchantMember.merchant_id == merchant_id)

    async def count_owners(self, merchant_id: str) -> int:
        result = await self.session.execute(
            select(func.count())
            .select_from(MerchantMember)
            .where(
                MerchantMember.merchant_id == merchant_id,
                MerchantMember.role == MemberRole.owner,
            )
        )
        return int(result.scalar_one())

    async def delete(self, member: MerchantMember) -> None:
        await self.session.delete(member)
        await self.session.flush()

    async def memberships_of_user(self, user_id: str) -> Sequence[tuple[str, str, str, str]]:
        """Every merchant a user belongs to: crosses tenants, so it goes through a definer function."""
        result = await self.session.execute(
            text(
                "SELECT merchant_id, role, merchant_name, merchant_status FROM mboa_user_memberships(:u)"
            ),
            {"u": user_id},
        )
        return [(r[0], r[1], r[2], r[3]) for r in result.all()]
