"""Merchant accounts, their teams, and the platform's decisions about them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.api_keys.service import api_key as api_key_service
from mboa.auth.cache import invalidate_after_commit
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import ListParams
from mboa.kit.schemas import merge_metadata
from mboa.kit.time import utc_now
from mboa.merchants.exceptions import (
    AlreadyMember,
    InvalidTransition,
    LastOwner,
    MemberNotFound,
    MerchantNotFound,
    OwnerOnly,
    UnknownUserEmail,
)
from mboa.merchants.repository import MerchantMemberRepository, MerchantRepository
from mboa.merchants.schemas import MerchantUpdate
from mboa.models import (
    ApiKey,
    ApiKeyType,
    MemberRole,
    Merchant,
    MerchantMember,
    MerchantStatus,
)
from mboa.postgres import TenantContext, set_merchant_only, set_tenant
from mboa.users.repository import UserRepository


class MerchantService:
    async def create(
        self,
        session: AsyncSession,
        *,
        owner_user_id: str,
        name: str,
        metadata: dict[str, str] | None = None,
    ) -> tuple[Merchant, list[tuple[ApiKey, str]]]:
        """A new sandbox merchant, its owner, and a test key pair (secrets returned once)."""
        merchant = Merchant(
            id=new_id(Prefix.merchant),
            name=name,
            country="CM",
            default_currency="XAF",
            status=MerchantStatus.sandbox,
            metadata_=metadata or {},
            created_at=utc_now(),
        )
        # The new merchant becomes this transaction's tenant, so RLS admits its rows.
        await set_merchant_only(session, merchant.id)
        await MerchantRepository.from_session(session).add(merchant)
        await MerchantMemberRepository.from_session(session).add(
            MerchantMember(
                id=new_id(Prefix.member),
                merchant_id=merchant.id,
                user_id=owner_user_id,
                role=MemberRole.owner,
                created_at=utc_now(),
            )
        )
        await set_tenant(session, TenantContext(merchant.id, livemode=False))
        keys = []
        for key_type, key_name in (
            (ApiKeyType.secret, "Default secret key"),
            (ApiKeyType.publishable, "Default publishable key"),
        ):
            keys.append(
                await api_key_service.create(
                    session,
                    merchant=merchant,
                    livemode=False,
                    key_type=key_type,
                    name=key_name,
                    created_by=owner_user_id,
                )
            )
        return merchant, keys

    async def get(self, session: AsyncSession, merchant_id: str) -> Merchant:
        merchant = await MerchantRepository.from_session(session).get(merchant_id)
        if merchant is None:
            raise MerchantNotFound(f"No such merchant: '{merchant_id}'", param="merchant_id")
        return merchant

    async def update(
        self, session: AsyncSession, merchant: Merchant, update: MerchantUpdate
    ) -> Merchant:
        if update.name is not None:
            merchant.name = update.name
        merchant.metadata_ = merge_metadata(merchant.metadata_, update.metadata)
        await session.flush()
        return merchant

    # Team ---------------------------------------------------------------------------------

    async def list_members(
        self, session: AsyncSession, merchant_id: str, params: ListParams
    ) -> tuple[Sequence[MerchantMember], bool]:
        repository = MerchantMemberRepository.from_session(session)
        return await repository.paginate(repository.list_statement(merchant_id), params)

    async def get_member(
        self, session: AsyncSession, merchant_id: str, member_id: str
    ) -> MerchantMember:
        member = await MerchantMemberRepository.from_session(session).get_in_merchant(
            merchant_id, member_id
        )
        if member is None:
            raise MemberNotFound(f"No such team member: '{member_id}'", param="id")
        return member

    def _check_owner_change(self, actor_role: MemberRole | None, *roles: MemberRole) -> None:
        if MemberRole.owner in roles and actor_role is not MemberRole.owner:
            raise OwnerOnly("Only an owner can add, remove or change an owner.")

    async def add_member(
        self,
        session: AsyncSession,
        *,
        merchant_id: str,
        email: str,
        role: MemberRole,
        actor_role: MemberRole | None,
    ) -> MerchantMember:
        self._check_owner_change(actor_role, role)
        user = await UserRepository.from_session(session).get_by_email(email)
        if user is None:
            raise UnknownUserEmail(
                "No user has signed up with this email yet; ask them to sign up first.",
                param="email",
            )
        repository = MerchantMemberRepository.from_session(session)
        if await repository.get_by_user(merchant_id, user.id) is not None:
            raise AlreadyMember("This user is already on the team.", param="email")
        return await repository.add(
            MerchantMember(
                id=new_id(Prefix.member),
                merchant_id=merchant_id,
                user_id=user.id,
                role=role,
                created_at=utc_now(),
            )
        )

    async def change_role(
        self,
        session: AsyncSession,
        *,
        member: MerchantMember,
        role: MemberRole,
        actor_role: MemberRole | None,
    ) -> MerchantMember:
        self._check_owner_change(actor_role, role, member.role)
        if member.role is MemberRole.owner and role is not MemberRole.owner:
            await self._keep_an_owner(session, member.merchant_id)
        member.role = role
        await session.flush()
        return member

    async def remove_member(
        self, session: AsyncSession, *, member: MerchantMember, actor_role: MemberRole | None
    ) -> None:
        self._check_owner_change(actor_role, member.role)
        if member.role is MemberRole.owner:
            await self._keep_an_owner(session, member.merchant_id)
        await MerchantMemberRepository.from_session(session).delete(member)

    async def _keep_an_owner(self, session: AsyncSession, merchant_id: str) -> None:
        if await MerchantMemberRepository.from_session(session).count_owners(merchant_id) <= 1:
            raise LastOwner("A merchant must keep at least one owner.", param="role")

    # Platform staff (platform-role session) -----------------------------------------------

    async def list_all(
        self, session: AsyncSession, params: ListParams, status: MerchantStatus | None
    ) -> tuple[Sequence[Merchant], bool]:
        repository = MerchantRepository.from_session(session)
        return await repository.paginate(repository.list_statement(status), params)

    async def approve(self, session: AsyncSession, merchant: Merchant, staff_id: str) -> Merchant:
        if merchant.status is not MerchantStatus.sandbox:
            raise InvalidTransition(
                f"Only a sandbox merchant can be approved; it is {merchant.status}."
            )
        merchant.status = MerchantStatus.active
        merchant.approved_at = utc_now()
        merchant.approved_by = staff_id
        await session.flush()
        invalidate_after_commit(session, merchant_id=merchant.id)
        return merchant

    async def suspend(self, session: AsyncSession, merchant: Merchant, reason: str) -> Merchant:
        if merchant.status is MerchantStatus.suspended:
            raise InvalidTransition("The merchant is already suspended.")
        merchant.status = MerchantStatus.suspended
        merchant.suspended_at = utc_now()
        merchant.suspension_reason = reason
        await session.flush()
        invalidate_after_commit(session, merchant_id=merchant.id)
        return merchant

    async def reactivate(self, session: AsyncSession, merchant: Merchant) -> Merchant:
        if merchant.status is not MerchantStatus.suspended:
            raise InvalidTransition("Only a suspended merchant can be reactivated.")
        merchant.status = (
            MerchantStatus.active if merchant.approved_at is not None else MerchantStatus.sandbox
        )
        merchant.suspended_at = None
        merchant.suspension_reason = None
        await session.flush()
        invalidate_after_commit(session, merchant_id=merchant.id)
        return merchant


merchant = MerchantService()
