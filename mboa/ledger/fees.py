"""Fee plans: a percentage in basis points plus a fixed amount, per merchant and operator.

A merchant without its own plan for an operator uses the default plan (merchant_id NULL), seeded by
the migration. Integer arithmetic only: the percentage part is rounded half up to the minor unit.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.exceptions import BadRequest
from mboa.ledger.repository import FeePlanRepository


@dataclasses.dataclass(frozen=True, slots=True)
class FeePlan:
    operator: str
    currency: str
    percent_bps: int
    fixed_amount: int
    settlement_delay_seconds: int
    merchant_id: str | None = None

    def fee_for(self, amount: int) -> int:
        """The fee on a collection of `amount`, never more than the amount itself."""
        if amount <= 0:
            return 0
        percentage = (amount * self.percent_bps + 5_000) // 10_000
        return min(amount, percentage + self.fixed_amount)


class FeePlanService:
    async def plan_for(
        self, session: AsyncSession, *, merchant_id: str, operator: str, currency: str
    ) -> FeePlan:
        row = await FeePlanRepository.from_session(session).plan_for(
            merchant_id, operator, currency
        )
        if row is None:
            raise BadRequest(f"No fee plan for {operator} in {currency}", param="operator")
        return FeePlan(
            row.operator,
            row.currency,
            row.percent_bps,
            row.fixed_amount,
            row.settlement_delay_seconds,
            row.merchant_id,
        )

    async def set_plan(
        self,
        session: AsyncSession,
        *,
        merchant_id: str | None,
        operator: str,
        currency: str,
        percent_bps: int,
        fixed_amount: int,
        settlement_delay_seconds: int = 86_400,
    ) -> FeePlan:
        """Create or replace a merchant's plan (`merchant_id=None`: the default plan)."""
        if not 0 <= percent_bps <= 10_000 or fixed_amount < 0 or settlement_delay_seconds < 0:
            raise BadRequest("Invalid fee plan")
        await FeePlanRepository.from_session(session).upsert(
            merchant_id=merchant_id,
            operator=operator,
            currency=currency,
            percent_bps=percent_bps,
            fixed_amount=fixed_amount,
            settlement_delay_seconds=settlement_delay_seconds,
        )
        return FeePlan(
            operator, currency, percent_bps, fixed_amount, settlement_delay_seconds, merchant_id
        )


fee_plan = FeePlanService()
