from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from mboa.kit.repository import RepositoryBase
from mboa.models import MerchantMember, Notification, User


class NotificationRepository(RepositoryBase[Notification]):
    model = Notification

    async def lock_unsent(self, notification_id: str) -> Notification | None:
        """The notice if it is still to send, locked; a concurrent sender skips it."""
        return await self.get_one_or_none(
            select(Notification)
            .where(Notification.id == notification_id, Notification.sent_at.is_(None))
            .with_for_update(skip_locked=True)
        )

    async def unsent_before(self, before: dt.datetime, limit: int) -> list[str]:
        result = await self.session.execute(
            select(Notification.id)
            .where(Notification.sent_at.is_(None), Notification.created_at < before)
            .order_by(Notification.id)
            .limit(limit)
        )
        return list(result.scalars().all())

    async def members(self, merchant_id: str) -> list[dict[str, Any]]:
        """Each enabled member's email, role and e-mail preferences."""
        result = await self.session.execute(
            select(
                User.email,
                MerchantMember.role,
                MerchantMember.notify_payout_paid,
                MerchantMember.notify_payout_failed,
                MerchantMember.notify_webhook_disabled,
            )
            .join(User, User.id == MerchantMember.user_id)
            .where(MerchantMember.merchant_id == merchant_id, User.disabled_at.is_(None))
            .order_by(User.email)
        )
        return [dict(row) for row in result.mappings().all()]

    async def locales(self, emails: Sequence[str]) -> dict[str, str | None]:
        result = await self.session.execute(
            select(User.email, User.locale).where(User.email.in_([e.lower() for e in emails]))
        )
        return {str(row[0]): row[1] for row in result.all()}
