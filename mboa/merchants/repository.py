from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Select, func, select, text

from mboa.kit.repository import RepositoryBase
from mboa.models import (
    Invitation,
    MemberRole,
    Merchant,
    MerchantMember,
    MerchantStatus,
    Notification,
    User,
)


class MerchantRepository(RepositoryBase[Merchant]):
    model = Merchant

    def list_statement(self, status: MerchantStatus | None = None) -> Select[Merchant]:
        statement = select(Merchant)
        if status is not None:
            statement = statement.where(Merchant.status == status)
        return statement

    async def get_for_update(self, merchant_id: str) -> Merchant | None:
        return await self.session.get(Merchant, merchant_id, with_for_update=True)

    async def owner_emails(self, merchant_id: str) -> list[str]:
        statement = (
            select(User.email)
            .join(MerchantMember, MerchantMember.user_id == User.id)
            .where(
                MerchantMember.merchant_id == merchant_id,
                MerchantMember.role == MemberRole.owner,
            )
            .order_by(User.email)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def add_notification(self, notification: Notification) -> None:
        self.session.add(notification)


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

    async def with_users(
        self, merchant_id: str
    ) -> Sequence[tuple[MerchantMember, str, str | None]]:
        result = await self.session.execute(
            select(MerchantMember, User.email, User.name)
            .join(User, User.id == MerchantMember.user_id)
            .where(MerchantMember.merchant_id == merchant_id)
            .order_by(MerchantMember.id)
        )
        return [(row[0], row[1], row[2]) for row in result.all()]

    async def memberships_of_user(self, user_id: str) -> Sequence[tuple[str, str, str, str]]:
        """Every merchant a user belongs to: crosses tenants, so it goes through a definer function."""
        result = await self.session.execute(
            text(
                "SELECT merchant_id, role, merchant_name, merchant_status FROM mboa_user_memberships(:u)"
            ),
            {"u": user_id},
        )
        return [(r[0], r[1], r[2], r[3]) for r in result.all()]


class InvitationRepository(RepositoryBase[Invitation]):
    model = Invitation

    def pending_statement(self, merchant_id: str, now: dt.datetime) -> Select[Invitation]:
        return (
            select(Invitation)
            .where(
                Invitation.merchant_id == merchant_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
            .order_by(Invitation.id.desc())
        )

    async def pending(self, merchant_id: str, now: dt.datetime) -> Sequence[Invitation]:
        return (
            (await self.session.execute(self.pending_statement(merchant_id, now))).scalars().all()
        )

    async def pending_for_email(
        self, merchant_id: str, email: str, now: dt.datetime
    ) -> Invitation | None:
        statement = self.pending_statement(merchant_id, now).where(Invitation.email == email)
        return (await self.session.execute(statement)).scalars().first()

    async def get_in_merchant(self, merchant_id: str, invitation_id: str) -> Invitation | None:
        return await self.get_one_or_none(
            select(Invitation).where(
                Invitation.merchant_id == merchant_id, Invitation.id == invitation_id
            )
        )

    async def by_token_hash(self, token_hash: str, *, lock: bool = False) -> Invitation | None:
        statement = select(Invitation).where(Invitation.token_hash == token_hash)
        return await self.get_one_or_none(statement.with_for_update() if lock else statement)

    async def lock(self, invitation_id: str) -> Invitation | None:
        return await self.get_one_or_none(
            select(Invitation).where(Invitation.id == invitation_id).with_for_update()
        )
