"""The queue of e-mails: a `notifications` row written in the transaction that has something to
say, and the `mail.send` job that sends it once (docs/dashboard.md, "E-mail").

Who receives the notices about money and webhooks: the members whose preference is on. A member
who never chose has their role's default (`DEFAULTS`): payouts to owners and admins; a disabled
webhook endpoint to owners, admins and developers. Invitations and password resets always go.

The links of invitations and password resets carry a token that is never stored: it is drawn
when the e-mail is sent, and only its hash is kept on the invitation or the reset (so a resend
replaces the previous link)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.config import Settings
from mboa.dashboard.emails import render
from mboa.kit.crypto import random_token, sha256_hex
from mboa.kit.ids import Prefix, new_id
from mboa.kit.time import utc_now
from mboa.mail.backends import Mailer, Message
from mboa.mail.repository import NotificationRepository
from mboa.merchants.repository import InvitationRepository
from mboa.models import MemberRole, Notification
from mboa.postgres import Database
from mboa.users.repository import PasswordResetRepository
from mboa.web.i18n import DEFAULT_LOCALE, LOCALES
from mboa.worker import enqueue

SEND_TASK = "mail.send"

PAYOUT_PAID = "payout.paid"
PAYOUT_FAILED = "payout.failed"
WEBHOOK_DISABLED = "webhook_endpoint.disabled"
INVITATION = "team.invitation"
PASSWORD_RESET = "user.password_reset"

PREFERENCES = {
    PAYOUT_PAID: "notify_payout_paid",
    PAYOUT_FAILED: "notify_payout_failed",
    WEBHOOK_DISABLED: "notify_webhook_disabled",
}
"""Each notice a member may turn off, and the column of `merchant_members` that says so."""

DEFAULTS = {
    PAYOUT_PAID: frozenset({MemberRole.owner, MemberRole.admin}),
    PAYOUT_FAILED: frozenset({MemberRole.owner, MemberRole.admin}),
    WEBHOOK_DISABLED: frozenset({MemberRole.owner, MemberRole.admin, MemberRole.developer}),
}


def wants(kind: str, role: MemberRole, chosen: bool | None) -> bool:
    return chosen if chosen is not None else role in DEFAULTS[kind]


class MailService:
    async def queue(
        self,
        session: AsyncSession,
        *,
        kind: str,
        recipients: list[str],
        data: dict[str, Any],
        merchant_id: str | None,
        livemode: bool,
        subject: str,
        body: str = "",
    ) -> Notification | None:
        """Record an e-mail and enqueue its sending, in the caller's transaction."""
        if not recipients:
            return None
        notification = Notification(
            id=new_id(Prefix.notification),
            merchant_id=merchant_id,
            livemode=livemode,
            kind=kind,
            channel="email",
            recipients=recipients,
            subject=subject[:300],
            body=body,
            data=data,
            created_at=utc_now(),
        )
        await NotificationRepository.from_session(session).add(notification)
        await enqueue(
            session, SEND_TASK, {"id": notification.id}, job_id=f"{SEND_TASK}:{notification.id}"
        )
        return notification

    async def notify_members(
        self,
        session: AsyncSession,
        *,
        kind: str,
        merchant_id: str,
        livemode: bool,
        data: dict[str, Any],
        subject: str,
        body: str = "",
    ) -> Notification | None:
        """A notice to the merchant's members who want it (their preference, else their role's)."""
        column = PREFERENCES[kind]
        rows = await NotificationRepository.from_session(session).members(merchant_id)
        recipients = [row["email"] for row in rows if wants(kind, row["role"], row[column])]
        return await self.queue(
            session,
            kind=kind,
            recipients=recipients,
            data=data,
            merchant_id=merchant_id,
            livemode=livemode,
            subject=subject,
            body=body,
        )

    async def send(
        self, db: Database, settings: Settings, mailer: Mailer, notification_id: str
    ) -> str:
        """Send one notice to each recipient in their language, then mark it sent. A notice
        already sent (or being sent) is left alone: running the job again sends nothing twice.
        If the process dies between a message accepted by the server and the commit, the next
        try sends it again (at least once)."""
        async with db.platform_transaction() as session:
            notices = NotificationRepository.from_session(session)
            notification = await notices.lock_unsent(notification_id)
            if notification is None:
                return "nothing to do"
            now = utc_now()
            link = await self._link(session, settings, notification, now)
            if link is None and notification.kind in (INVITATION, PASSWORD_RESET):
                notification.sent_at = now  # revoked, used or expired meanwhile: nothing to say
                return "obsolete"
            locales = await notices.locales(notification.recipients)
            for recipient in notification.recipients:
                locale = locales.get(recipient.lower()) or notification.data.get("locale")
                subject, text, html = render(
                    notification.kind,
                    locale if locale in LOCALES else DEFAULT_LOCALE,
                    notification.data,
                    link=link,
                    base_url=settings.base_url,
                    livemode=notification.livemode,
                )
                await mailer.send(Message(to=recipient, subject=subject, text=text, html=html))
            notification.sent_at = utc_now()
            return "sent"

    async def _link(
        self,
        session: AsyncSession,
        settings: Settings,
        notification: Notification,
        now: dt.datetime,
    ) -> str | None:
        """The link an invitation or a reset carries: a fresh token, its hash stored."""
        base = settings.base_url.rstrip("/")
        token = random_token(32)
        if notification.kind == INVITATION:
            invitation = await InvitationRepository.from_session(session).lock(
                notification.data["invitation"]
            )
            if (
                invitation is None
                or invitation.accepted_at is not None
                or invitation.revoked_at is not None
                or invitation.expires_at <= now
            ):
                return None
            invitation.token_hash = sha256_hex(token)
            await session.flush()
            return f"{base}/dashboard/invitations/{token}"
        if notification.kind == PASSWORD_RESET:
            reset = await PasswordResetRepository.from_session(session).lock(
                notification.data["password_reset"]
            )
            if reset is None or reset.used_at is not None or reset.expires_at <= now:
                return None
            reset.token_hash = sha256_hex(token)
            await session.flush()
            return f"{base}/dashboard/password/reset/{token}"
        return None

    async def sweep(self, db: Database, *, older_than: dt.timedelta, limit: int = 500) -> int:
        """A job again for each notice still unsent long after it was written (its job lost)."""
        async with db.platform_transaction() as session:
            ids = await NotificationRepository.from_session(session).unsent_before(
                utc_now() - older_than, limit
            )
            minute = int(utc_now().timestamp()) // 60
            for notification_id in ids:
                await enqueue(
                    session,
                    SEND_TASK,
                    {"id": notification_id},
                    job_id=f"{SEND_TASK}:{notification_id}:swept:{minute}",
                )
            return len(ids)


mail = MailService()
