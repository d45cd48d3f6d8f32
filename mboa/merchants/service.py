"""Merchant accounts, their teams, and the platform's decisions about them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.api_keys.service import api_key as api_key_service
from mboa.audit.service import Action as AuditAction
from mboa.audit.service import Actor, ActorType, audit
from mboa.auth.cache import invalidate_after_commit
from mboa.config import StorageSettings
from mboa.events.service import event as event_service
from mboa.kit.crypto import random_token, sha256_hex
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import ListParams
from mboa.kit.schemas import merge_metadata
from mboa.kit.time import utc_now
from mboa.mail.service import DEFAULTS, INVITATION, PREFERENCES, mail
from mboa.mail.service import mail as mail_service
from mboa.merchants.exceptions import (
    AlreadyMember,
    EmailInvalid,
    InvalidTransition,
    InvitationEmailMismatch,
    InvitationInvalid,
    InvitationNotFound,
    InvitationPending,
    LastOwner,
    MemberNotFound,
    MerchantNotFound,
    OwnerOnly,
    UnknownUserEmail,
)
from mboa.merchants.repository import (
    InvitationRepository,
    MerchantMemberRepository,
    MerchantRepository,
)
from mboa.merchants.schemas import Account, MerchantUpdate
from mboa.models import (
    ApiKey,
    ApiKeyType,
    Invitation,
    MemberRole,
    Merchant,
    MerchantMember,
    MerchantStatus,
)
from mboa.postgres import TenantContext, set_merchant_only, set_tenant
from mboa.storage.backends import ObjectStore
from mboa.storage.keys import Purpose
from mboa.storage.service import storage as storage_service
from mboa.storage.signing import UrlSigner
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
        before = {"name": merchant.name, "metadata": dict(merchant.metadata_)}
        if update.name is not None:
            merchant.name = update.name
        merchant.metadata_ = merge_metadata(merchant.metadata_, update.metadata)
        await session.flush()
        await audit.record(
            session,
            action=AuditAction.merchant_updated,
            target=("merchant", merchant.id),
            merchant_id=merchant.id,
            before=before,
            after={"name": merchant.name, "metadata": dict(merchant.metadata_)},
        )
        return merchant

    # Logo -------------------------------------------------------------------------------------

    async def set_logo(
        self,
        session: AsyncSession,
        store: ObjectStore,
        settings: StorageSettings,
        merchant: Merchant,
        data: bytes,
    ) -> Merchant:
        """Check, clean and store a new logo (PNG, JPEG or WebP; re-encoded to WebP within
        `logo_max_side` pixels, docs/storage.md), then point the merchant at it. The API's
        `POST /v1/merchants/{id}/logo` and the dashboard's settings page both call this."""
        stored = await storage_service.upload(
            store,
            settings,
            merchant_id=merchant.id,
            purpose=Purpose.logo,
            data=data,
            metadata={"merchant": merchant.id},
        )
        previous = merchant.logo_key
        merchant.logo_key = stored.key
        await session.flush()
        storage_service.delete_after_transaction(
            session, store, on_commit=previous, on_rollback=stored.key
        )
        await audit.record(
            session,
            action=AuditAction.merchant_logo_set,
            target=("merchant", merchant.id),
            merchant_id=merchant.id,
            before={"logo": previous},
            after={"logo": stored.key, "size": len(data)},
        )
        return merchant

    async def remove_logo(
        self, session: AsyncSession, store: ObjectStore, merchant: Merchant
    ) -> Merchant:
        """No logo any more (the stored one is deleted once this commits)."""
        previous = merchant.logo_key
        merchant.logo_key = None
        await session.flush()
        storage_service.delete_after_transaction(session, store, on_commit=previous)
        await audit.record(
            session,
            action=AuditAction.merchant_logo_removed,
            target=("merchant", merchant.id),
            merchant_id=merchant.id,
            before={"logo": previous},
            after={"logo": None},
        )
        return merchant

    def logo_url(
        self, signer: UrlSigner, settings: StorageSettings, base_url: str, merchant: Merchant
    ) -> str | None:
        """The logo's signed URL (our `/files/…` route, stable for an hour), or None."""
        if not merchant.logo_key:
            return None
        return base_url.rstrip("/") + storage_service.page_image_path(
            signer, settings, merchant.logo_key
        )

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
        member = await repository.add(
            MerchantMember(
                id=new_id(Prefix.member),
                merchant_id=merchant_id,
                user_id=user.id,
                role=role,
                created_at=utc_now(),
            )
        )
        await audit.record(
            session,
            action=AuditAction.member_added,
            target=("team_member", member.id),
            merchant_id=merchant_id,
            after={"user": user.id, "email": user.email, "role": str(role)},
        )
        return member

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
        before = {"user": member.user_id, "role": str(member.role)}
        member.role = role
        await session.flush()
        await audit.record(
            session,
            action=AuditAction.member_role_changed,
            target=("team_member", member.id),
            merchant_id=member.merchant_id,
            before=before,
            after={"user": member.user_id, "role": str(role)},
        )
        return member

    async def remove_member(
        self, session: AsyncSession, *, member: MerchantMember, actor_role: MemberRole | None
    ) -> None:
        self._check_owner_change(actor_role, member.role)
        if member.role is MemberRole.owner:
            await self._keep_an_owner(session, member.merchant_id)
        await MerchantMemberRepository.from_session(session).delete(member)
        await audit.record(
            session,
            action=AuditAction.member_removed,
            target=("team_member", member.id),
            merchant_id=member.merchant_id,
            before={"user": member.user_id, "role": str(member.role)},
        )

    async def _keep_an_owner(self, session: AsyncSession, merchant_id: str) -> None:
        if await MerchantMemberRepository.from_session(session).count_owners(merchant_id) <= 1:
            raise LastOwner("A merchant must keep at least one owner.", param="role")

    # Invitations (docs/dashboard.md, "Team") ------------------------------------------------

    async def invite(
        self,
        session: AsyncSession,
        *,
        merchant_id: str,
        email: str,
        role: MemberRole,
        actor_role: MemberRole | None,
        invited_by: str,
        inviter_name: str,
        locale: str,
        ttl: dt.timedelta,
    ) -> Invitation:
        """A pending invitation, e-mailed (the link's token is drawn when the e-mail is sent)."""
        self._check_owner_change(actor_role, role)
        try:
            email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise EmailInvalid("This is not a valid email address.", param="email") from exc
        user = await UserRepository.from_session(session).get_by_email(email)
        members = MerchantMemberRepository.from_session(session)
        if user is not None and await members.get_by_user(merchant_id, user.id) is not None:
            raise AlreadyMember("This user is already on the team.", param="email")
        invitations = InvitationRepository.from_session(session)
        now = utc_now()
        if await invitations.pending_for_email(merchant_id, email, now) is not None:
            raise InvitationPending("This email already has a pending invitation.", param="email")
        invitation = await invitations.add(
            Invitation(
                id=new_id(Prefix.invitation),
                merchant_id=merchant_id,
                email=email,
                role=role,
                token_hash=sha256_hex(random_token(32)),  # replaced when the e-mail is sent
                invited_by=invited_by,
                expires_at=now + ttl,
                created_at=now,
            )
        )
        await self._mail_invitation(session, invitation, inviter_name, locale)
        await self._audit_invitation(
            session, AuditAction.member_invited, invitation, after=_invitation(invitation)
        )
        return invitation

    async def _audit_invitation(
        self,
        session: AsyncSession,
        action: AuditAction,
        invitation: Invitation,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        fallback_actor: Actor | None = None,
    ) -> None:
        await audit.record(
            session,
            action=action,
            target=("invitation", invitation.id),
            merchant_id=invitation.merchant_id,
            before=before,
            after=after,
            fallback_actor=fallback_actor,
        )

    async def _mail_invitation(
        self, session: AsyncSession, invitation: Invitation, inviter_name: str, locale: str
    ) -> None:
        found = await self.get(session, invitation.merchant_id)
        await mail_service.queue(
            session,
            kind=INVITATION,
            recipients=[invitation.email],
            data={
                "invitation": invitation.id,
                "merchant_name": found.name,
                "role": str(invitation.role),
                "inviter": inviter_name,
                "locale": locale,
            },
            merchant_id=invitation.merchant_id,
            livemode=False,
            subject=f"Invitation to join {found.name} on Mboa Pay",
        )

    async def pending_invitations(
        self, session: AsyncSession, merchant_id: str
    ) -> Sequence[Invitation]:
        return await InvitationRepository.from_session(session).pending(merchant_id, utc_now())

    async def get_invitation(
        self, session: AsyncSession, merchant_id: str, invitation_id: str
    ) -> Invitation:
        found = await InvitationRepository.from_session(session).get_in_merchant(
            merchant_id, invitation_id
        )
        if found is None or found.accepted_at is not None or found.revoked_at is not None:
            raise InvitationNotFound(f"No such invitation: '{invitation_id}'", param="id")
        return found

    async def revoke_invitation(
        self, session: AsyncSession, invitation: Invitation, *, actor_role: MemberRole | None
    ) -> None:
        self._check_owner_change(actor_role, invitation.role)
        before = _invitation(invitation)
        invitation.revoked_at = utc_now()
        await session.flush()
        await self._audit_invitation(
            session,
            AuditAction.member_invitation_revoked,
            invitation,
            before=before,
            after=_invitation(invitation),
        )

    async def resend_invitation(
        self,
        session: AsyncSession,
        invitation: Invitation,
        *,
        actor_role: MemberRole | None,
        inviter_name: str,
        locale: str,
        ttl: dt.timedelta,
    ) -> Invitation:
        """A new e-mail with a new link (the previous link stops working); the week restarts."""
        self._check_owner_change(actor_role, invitation.role)
        before = _invitation(invitation)
        invitation.expires_at = utc_now() + ttl
        await session.flush()
        await self._mail_invitation(session, invitation, inviter_name, locale)
        await self._audit_invitation(
            session,
            AuditAction.member_invitation_resent,
            invitation,
            before=before,
            after=_invitation(invitation),
        )
        return invitation

    async def invitation_by_token(
        self, session: AsyncSession, token: str, *, lock: bool = False
    ) -> tuple[Invitation, str]:
        """The pending invitation a link names, and its merchant's name (any merchant: the
        caller's session is the platform role's, as for the public pages)."""
        found = await InvitationRepository.from_session(session).by_token_hash(
            sha256_hex(token[:200]), lock=lock
        )
        if (
            found is None
            or found.accepted_at is not None
            or found.revoked_at is not None
            or found.expires_at <= utc_now()
        ):
            raise InvitationInvalid("This invitation link is not valid.")
        return found, (await self.get(session, found.merchant_id)).name

    async def accept_invitation(
        self, session: AsyncSession, invitation: Invitation, *, user_id: str, email: str
    ) -> MerchantMember:
        """The signed-in user joins with the invited role (their email must be the invited one)."""
        if email.lower() != invitation.email:
            raise InvitationEmailMismatch("This invitation was sent to another email address.")
        members = MerchantMemberRepository.from_session(session)
        before = _invitation(invitation)
        invitation.accepted_at = utc_now()
        existing = await members.get_by_user(invitation.merchant_id, user_id)
        if existing is not None:
            await session.flush()
            member = existing
        else:
            member = await members.add(
                MerchantMember(
                    id=new_id(Prefix.member),
                    merchant_id=invitation.merchant_id,
                    user_id=user_id,
                    role=invitation.role,
                    created_at=utc_now(),
                )
            )
        await self._audit_invitation(
            session,
            AuditAction.member_invitation_accepted,
            invitation,
            before=before,
            after={**_invitation(invitation), "user": user_id, "member": member.id},
            fallback_actor=Actor(ActorType.user, user_id),
        )
        return member

    async def members_with_users(
        self, session: AsyncSession, merchant_id: str
    ) -> Sequence[tuple[MerchantMember, str, str | None]]:
        """Every member with their email and name (the team page)."""
        return await MerchantMemberRepository.from_session(session).with_users(merchant_id)

    async def get_member_of_user(
        self, session: AsyncSession, merchant_id: str, user_id: str
    ) -> MerchantMember:
        found = await MerchantMemberRepository.from_session(session).get_by_user(
            merchant_id, user_id
        )
        if found is None:
            raise MemberNotFound("You are not a member of this account.")
        return found

    def default_preferences(self, role: MemberRole) -> dict[str, bool]:
        """What a member receives until they choose (mboa/mail/service.py `DEFAULTS`)."""
        return {column: role in DEFAULTS[kind] for kind, column in PREFERENCES.items()}

    async def set_preferences(
        self, session: AsyncSession, member: MerchantMember, choices: dict[str, bool]
    ) -> MerchantMember:
        """The member's e-mail preferences (`notify_…` columns, mboa/mail/service.py)."""
        columns = ("notify_payout_paid", "notify_payout_failed", "notify_webhook_disabled")
        before = {column: getattr(member, column) for column in columns}
        for column, value in choices.items():
            if column in columns:
                setattr(member, column, value)
        await session.flush()
        after = {column: getattr(member, column) for column in columns}
        if after != before:
            await audit.record(
                session,
                action=AuditAction.member_preferences_updated,
                target=("team_member", member.id),
                merchant_id=member.merchant_id,
                before={"user": member.user_id, **before},
                after={"user": member.user_id, **after},
            )
        return member

    async def update_profile(
        self,
        session: AsyncSession,
        merchant: Merchant,
        *,
        name: str,
        support_email: str | None,
        support_phone: str | None,
    ) -> Merchant:
        """The business profile (the Settings page)."""
        if support_email:
            try:
                support_email = validate_email(
                    support_email.strip(), check_deliverability=False
                ).normalized
            except EmailNotValidError as exc:
                raise EmailInvalid(
                    "This is not a valid email address.", param="support_email"
                ) from exc
        before = _profile(merchant)
        merchant.name = name
        merchant.support_email = support_email or None
        merchant.support_phone = support_phone or None
        await session.flush()
        after = _profile(merchant)
        await audit.record(
            session,
            action=AuditAction.merchant_updated,
            target=("merchant", merchant.id),
            merchant_id=merchant.id,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
        return merchant

    async def set_payout_wallet(
        self, session: AsyncSession, merchant: Merchant, *, phone: str, provider: str
    ) -> Merchant:
        before = {
            "payout_phone": merchant.payout_phone,
            "payout_provider": merchant.payout_provider,
        }
        merchant.payout_phone = phone
        merchant.payout_provider = provider
        await session.flush()
        await audit.record(
            session,
            action=AuditAction.merchant_payout_wallet_set,
            target=("merchant", merchant.id),
            merchant_id=merchant.id,
            before=before,
            after={"payout_phone": phone, "payout_provider": provider},
        )
        return merchant

    # Platform staff (platform-role session) -----------------------------------------------

    async def list_all(
        self, session: AsyncSession, params: ListParams, status: MerchantStatus | None
    ) -> tuple[Sequence[Merchant], bool]:
        repository = MerchantRepository.from_session(session)
        return await repository.paginate(repository.list_statement(status), params)

    # Going live: every status change writes `account.updated` (test and live mode, so an
    # endpoint of either mode hears it) and, for staff decisions, a notice to the owners.

    async def submit(self, session: AsyncSession, merchant: Merchant) -> Merchant:
        """The owner's KYC submission (`mboa.kyc`, which checks it is complete first)."""
        merchant.submitted_at = utc_now()
        return await self._move(session, merchant, "submit", reason=None, notify=False)

    async def approve(
        self, session: AsyncSession, merchant: Merchant, staff_id: str, reason: str
    ) -> Merchant:
        """Live mode allowed, only from `submitted`: staff approve an application whose profile
        and documents they reviewed (the console or the staff API), never a bare account."""
        merchant.approved_at = utc_now()
        merchant.approved_by = staff_id
        return await self._move(session, merchant, "approve", reason=reason, notify=True)

    async def reject(
        self, session: AsyncSession, merchant: Merchant, staff_id: str, reason: str
    ) -> Merchant:
        """The submission is refused with a reason the owner reads; they may submit again."""
        merchant.rejected_at = utc_now()
        merchant.rejection_reason = reason
        return await self._move(session, merchant, "reject", reason=reason, notify=True)

    async def suspend(self, session: AsyncSession, merchant: Merchant, reason: str) -> Merchant:
        merchant.suspended_at = utc_now()
        merchant.suspension_reason = reason
        return await self._move(session, merchant, "suspend", reason=reason, notify=True)

    async def reactivate(self, session: AsyncSession, merchant: Merchant, reason: str) -> Merchant:
        return await self._move(session, merchant, "reactivate", reason=reason, notify=True)

    async def _move(
        self,
        session: AsyncSession,
        merchant: Merchant,
        action: str,
        *,
        reason: str | None,
        notify: bool,
    ) -> Merchant:
        before = merchant.status
        after = next_status(before, action, approved=merchant.approved_at is not None)
        if after is None:
            raise InvalidTransition(
                f"This merchant is {before}: it cannot be {PAST[action]}"
                + (" (only a submitted application can be)." if action == "approve" else "."),
                param="status",
            )
        merchant.status = after
        if after is not MerchantStatus.suspended:
            merchant.suspended_at = None
            merchant.suspension_reason = None
        if after is MerchantStatus.active:
            merchant.rejection_reason = None
        await session.flush()
        invalidate_after_commit(session, merchant_id=merchant.id)
        snapshot = account_snapshot(merchant)
        for livemode in (False, True):
            event_service.add(
                session,
                merchant_id=merchant.id,
                livemode=livemode,
                type=ACCOUNT_UPDATED,
                snapshot={**snapshot, "livemode": livemode},
                previous_attributes={"status": str(before)},
            )
        if notify:
            await self._notify(session, merchant, action, reason)
        await self._audit_status(session, merchant, _AUDITED[action], str(before), reason=reason)
        await session.flush()
        return merchant

    async def _notify(
        self, session: AsyncSession, merchant: Merchant, action: str, reason: str | None
    ) -> None:
        """An e-mail to the owners in each one's language (mboa/mail/, `account.updated.*`
        in mboa/dashboard/emails.py), sent by the worker after the commit."""
        subject, body = NOTICES[action]
        await mail.queue(
            session,
            kind=f"{ACCOUNT_UPDATED}.{merchant.status}",
            recipients=await MerchantRepository.from_session(session).owner_emails(merchant.id),
            data={
                "account": merchant.id,
                "merchant_name": merchant.name,
                "status": str(merchant.status),
                "action": action,
                "reason": reason,
            },
            merchant_id=merchant.id,
            livemode=False,
            subject=subject.format(name=merchant.name),
            body=body.format(name=merchant.name)
            + (f"\n\nReason / Motif : {reason}" if reason else ""),
        )

    async def _audit_status(
        self,
        session: AsyncSession,
        merchant: Merchant,
        action: AuditAction,
        before: str,
        *,
        reason: str | None = None,
    ) -> None:
        after: dict[str, str] = {"status": str(merchant.status)}
        if reason is not None:
            after["reason"] = reason
        await audit.record(
            session,
            action=action,
            target=("merchant", merchant.id),
            merchant_id=merchant.id,
            before={"status": before},
            after=after,
        )


ACCOUNT_UPDATED = "account.updated"


def _invitation(invitation: Invitation) -> dict[str, Any]:
    """What the audit log keeps of an invitation (never its link's token)."""
    return {
        "email": invitation.email,
        "role": str(invitation.role),
        "expires_at": invitation.expires_at.isoformat(),
        "accepted_at": invitation.accepted_at.isoformat() if invitation.accepted_at else None,
        "revoked_at": invitation.revoked_at.isoformat() if invitation.revoked_at else None,
    }


def _profile(merchant: Merchant) -> dict[str, Any]:
    """The business profile of the Settings page, as the audit log keeps it."""
    return {
        "name": merchant.name,
        "support_email": merchant.support_email,
        "support_phone": merchant.support_phone,
    }


_S = MerchantStatus
_MOVES: dict[str, tuple[frozenset[MerchantStatus], MerchantStatus]] = {
    "submit": (frozenset({_S.sandbox, _S.rejected}), _S.submitted),
    "approve": (frozenset({_S.submitted}), _S.active),
    "reject": (frozenset({_S.submitted}), _S.rejected),
    "suspend": (frozenset({_S.sandbox, _S.submitted, _S.rejected, _S.active}), _S.suspended),
    "reactivate": (frozenset({_S.suspended}), _S.active),
}
"""The going-live flow (docs/going-live.md): sandbox → submitted → active | rejected (→ submitted
again); suspended from any status, back to active (or sandbox if never approved)."""
_AUDITED = {
    "submit": AuditAction.merchant_submitted,
    "approve": AuditAction.merchant_approved,
    "reject": AuditAction.merchant_rejected,
    "suspend": AuditAction.merchant_suspended,
    "reactivate": AuditAction.merchant_reactivated,
}
PAST = {
    "submit": "submitted",
    "approve": "approved",
    "reject": "rejected",
    "suspend": "suspended",
    "reactivate": "reactivated",
}
NOTICES = {
    "approve": (
        "Mboa Pay : {name} est activé / {name} is live",
        "Votre compte {name} est approuvé : vous pouvez créer vos clés live.\n"
        "Your account {name} is approved: you can now create live keys.",
    ),
    "reject": (
        "Mboa Pay : dossier de {name} à compléter / {name}: please update your documents",
        "Votre dossier n'a pas été accepté. Corrigez-le puis soumettez-le à nouveau.\n"
        "Your application was not accepted. Fix it and submit it again.",
    ),
    "suspend": (
        "Mboa Pay : {name} est suspendu / {name} is suspended",
        "Le mode live de votre compte est suspendu ; le mode test fonctionne toujours.\n"
        "Live mode is suspended on your account; test mode keeps working.",
    ),
    "reactivate": (
        "Mboa Pay : {name} est réactivé / {name} is reactivated",
        "La suspension de votre compte est levée.\nThe suspension of your account is lifted.",
    ),
}


def next_status(current: MerchantStatus, action: str, *, approved: bool) -> MerchantStatus | None:
    allowed, target = _MOVES[action]
    if current not in allowed:
        return None
    if action == "reactivate" and not approved:
        return MerchantStatus.sandbox
    return target


def account_snapshot(merchant: Merchant) -> dict[str, Any]:
    """The account as the API renders it (`GET /v1/account`), for events."""
    account = Account.model_validate(merchant)
    account.live_enabled = merchant.status is MerchantStatus.active
    return account.model_dump(mode="json")


merchant = MerchantService()
