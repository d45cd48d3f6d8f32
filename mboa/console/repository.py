"""The console's reads across merchants (the platform role: no row-level security)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, text

from mboa.kit.repository import RepositoryBase
from mboa.models import (
    ApiKey,
    MemberRole,
    Merchant,
    MerchantMember,
    PaymentIntent,
    Payout,
    User,
)


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderWindow:
    provider: str
    attempts: int
    succeeded: int
    failed: int
    pending: int
    p50_seconds: float | None
    p95_seconds: float | None
    callbacks_expected: int
    callbacks_received: int

    @property
    def success_rate(self) -> float | None:
        final = self.succeeded + self.failed
        return self.succeeded / final if final else None


_PROVIDER_HEALTH = text(
    """
    SELECT a.provider,
           count(*) AS attempts,
           count(*) FILTER (WHERE a.status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE a.status = 'failed') AS failed,
           count(*) FILTER (WHERE a.status = 'pending') AS pending,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM a.finished_at - a.created_at)
           ) FILTER (WHERE a.finished_at IS NOT NULL) AS p50,
           percentile_cont(0.95) WITHIN GROUP (
               ORDER BY extract(epoch FROM a.finished_at - a.created_at)
           ) FILTER (WHERE a.finished_at IS NOT NULL) AS p95,
           count(*) FILTER (WHERE a.flow = 'push' AND a.sent_at IS NOT NULL) AS expected,
           count(*) FILTER (
               WHERE a.flow = 'push' AND a.sent_at IS NOT NULL AND EXISTS (
                   SELECT 1 FROM provider_events e
                   WHERE e.provider = a.provider AND e.attempt_id = a.id
               )
           ) AS received
    FROM payment_attempts a
    WHERE a.created_at >= :since
    GROUP BY a.provider
    ORDER BY a.provider
    """
)


class ConsoleRepository(RepositoryBase[Merchant]):
    model = Merchant

    async def user(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def merchants(
        self, *, search: str | None, status: str | None, limit: int = 50
    ) -> Sequence[Merchant]:
        statement = select(Merchant)
        if status is not None:
            statement = statement.where(Merchant.status == status)
        if search:
            pattern = (
                "%" + search.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
            )
            owners = (
                select(MerchantMember.merchant_id)
                .join(User, User.id == MerchantMember.user_id)
                .where(User.email.ilike(pattern))
            )
            statement = statement.where(
                or_(
                    Merchant.id == search,
                    Merchant.name.ilike(pattern),
                    Merchant.id.in_(owners),
                )
            )
        result = await self.session.execute(statement.order_by(Merchant.id.desc()).limit(limit))
        return result.scalars().all()

    async def count_by_status(self) -> dict[str, int]:
        result = await self.session.execute(
            select(Merchant.status, func.count()).group_by(Merchant.status)
        )
        return {str(status): int(count) for status, count in result.all()}

    async def members(self, merchant_id: str) -> list[tuple[str, str, str | None]]:
        result = await self.session.execute(
            select(MerchantMember.role, User.email, User.name)
            .join(User, User.id == MerchantMember.user_id)
            .where(MerchantMember.merchant_id == merchant_id)
            .order_by(MerchantMember.id)
        )
        return [(str(MemberRole(role)), email, name) for role, email, name in result.all()]

    async def api_keys(self, merchant_id: str) -> Sequence[ApiKey]:
        result = await self.session.execute(
            select(ApiKey)
            .where(ApiKey.merchant_id == merchant_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.livemode.desc(), ApiKey.id.desc())
        )
        return result.scalars().all()

    async def recent_payments(self, merchant_id: str, limit: int = 10) -> Sequence[PaymentIntent]:
        result = await self.session.execute(
            select(PaymentIntent)
            .where(PaymentIntent.merchant_id == merchant_id)
            .order_by(PaymentIntent.id.desc())
            .limit(limit)
        )
        return result.scalars().all()

    async def payouts_awaiting(self, limit: int = 100) -> list[tuple[Payout, str]]:
        result = await self.session.execute(
            select(Payout, Merchant.name)
            .join(Merchant, Merchant.id == Payout.merchant_id)
            .where(Payout.review_status == "awaiting", Payout.status == "pending")
            .order_by(Payout.id)
            .limit(limit)
        )
        return [(payout, name) for payout, name in result.all()]

    async def provider_health(self, since: dt.datetime) -> list[ProviderWindow]:
        result = await self.session.execute(_PROVIDER_HEALTH, {"since": since})
        rows: list[Any] = list(result.all())
        return [
            ProviderWindow(
                provider=row.provider,
                attempts=int(row.attempts),
                succeeded=int(row.succeeded),
                failed=int(row.failed),
                pending=int(row.pending),
                p50_seconds=float(row.p50) if row.p50 is not None else None,
                p95_seconds=float(row.p95) if row.p95 is not None else None,
                callbacks_expected=int(row.expected),
                callbacks_received=int(row.received),
            )
            for row in rows
        ]
