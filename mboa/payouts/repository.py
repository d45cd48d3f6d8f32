from __future__ import annotations

from sqlalchemy import Select, func, select

from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.models import Payout


class PayoutRepository(RepositoryBase[Payout]):
    model = Payout

    async def get_for_update(self, payout_id: str) -> Payout | None:
        return await self.session.get(Payout, payout_id, with_for_update=True)

    async def get_of_tenant_for_update(
        self, payout_id: str, *, merchant_id: str, livemode: bool
    ) -> Payout | None:
        """The platform role bypasses row-level security: the tenant is stated here."""
        statement = (
            select(Payout)
            .where(
                Payout.id == payout_id,
                Payout.merchant_id == merchant_id,
                Payout.livemode == livemode,
            )
            .with_for_update()
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    def list_statement(
        self, *, status: str | None = None, created: CreatedRange | None = None
    ) -> Select[Payout]:
        # Row-level security limits this to the request's merchant and mode.
        statement = select(Payout)
        if status is not None:
            statement = statement.where(Payout.status == status)
        if created is not None:
            statement = statement.where(*created.clauses(Payout.created_at))
        return statement

    async def destinations(
        self, *, merchant_id: str, livemode: bool, limit: int = 10
    ) -> list[tuple[str, str, str]]:
        """The wallets earlier payouts went to, most recent first: (E.164, operator, masked)."""
        latest = func.max(Payout.id)
        result = await self.session.execute(
            select(Payout.phone, Payout.provider, Payout.phone_masked)
            .where(Payout.merchant_id == merchant_id, Payout.livemode == livemode)
            .group_by(Payout.phone, Payout.provider, Payout.phone_masked)
            .order_by(latest.desc())
            .limit(limit)
        )
        return [(row[0], row[1], row[2]) for row in result.all()]
