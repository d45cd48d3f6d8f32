"""Fee plans: a percentage in basis points plus a fixed amount, per merchant and operator.

A merchant without its own plan for an operator uses the default plan (merchant_id NULL), seeded by
the migration. Integer arithmetic only: the percentage part is rounded half up to the minor unit.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.service import Action as AuditAction
from mboa.audit.service import audit
from mboa.exceptions import BadRequest
from mboa.kit.money import CURRENCY_EXPONENTS
from mboa.ledger.exceptions import FeePlanMissing
from mboa.ledger.fee_plan_repository import FeePlanRepository
from mboa.models import LedgerFeePlan
from mboa.providers.types import ProviderName


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


MAX_SETTLEMENT_DELAY_SECONDS: Final = 90 * 86_400
"""Longer would hold a merchant's money for a quarter; it also keeps the column's int4 safe."""
MAX_FIXED_AMOUNT: Final = 1_000_000_000


def _plan(row: LedgerFeePlan) -> FeePlan:
    return FeePlan(
        row.operator,
        row.currency.strip(),
        row.percent_bps,
        row.fixed_amount,
        row.settlement_delay_seconds,
        row.merchant_id,
    )


class FeePlanService:
    async def plan_for(
        self, session: AsyncSession, *, merchant_id: str, operator: str, currency: str
    ) -> FeePlan:
        row = await FeePlanRepository.from_session(session).plan_for(
            merchant_id, operator, currency
        )
        if row is None:
            raise FeePlanMissing(f"No fee plan for {operator} in {currency}, not even a default")
        return _plan(row)

    async def default_plans(self, session: AsyncSession) -> list[FeePlan]:
        """The plans of merchants without one of their own (`merchant_id` None)."""
        return [_plan(row) for row in await FeePlanRepository.from_session(session).default_plans()]

    async def plans_of(self, session: AsyncSession, merchant_id: str) -> list[FeePlan]:
        """The plan that applies to the merchant for each operator and currency: its own, or
        the default (`merchant_id` None)."""
        effective: dict[tuple[str, str], FeePlan] = {}
        for row in await FeePlanRepository.from_session(session).plans_of(merchant_id):
            plan = _plan(row)
            key = (plan.operator, plan.currency)
            if plan.merchant_id is not None or key not in effective:
                effective[key] = plan
        return [effective[key] for key in sorted(effective)]

    async def remove_plan(
        self, session: AsyncSession, *, merchant_id: str, operator: str, currency: str
    ) -> FeePlan:
        """Drop the merchant's own plan for an operator (if it had one): the default applies
        again to collections posted from now on. Returns the plan that now applies."""
        before = await self.plan_for(
            session, merchant_id=merchant_id, operator=operator, currency=currency
        )
        await FeePlanRepository.from_session(session).remove(merchant_id, operator, currency)
        after = await self.plan_for(
            session, merchant_id=merchant_id, operator=operator, currency=currency
        )
        await _audit(session, AuditAction.fee_plan_removed, merchant_id, before, after)
        return after

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
        if operator not in {str(name) for name in ProviderName}:
            known = ", ".join(sorted(ProviderName))
            raise BadRequest(f"Unknown operator '{operator}': one of {known}", param="operator")
        if currency not in CURRENCY_EXPONENTS:
            raise BadRequest(f"Unsupported currency '{currency}'", param="currency")
        if not 0 <= percent_bps <= 10_000:
            raise BadRequest("percent_bps is 0 to 10000 (100 %)", param="percent_bps")
        if not 0 <= fixed_amount <= MAX_FIXED_AMOUNT:
            raise BadRequest(
                f"fixed_amount is 0 to {MAX_FIXED_AMOUNT} minor units", param="fixed_amount"
            )
        if not 0 <= settlement_delay_seconds <= MAX_SETTLEMENT_DELAY_SECONDS:
            raise BadRequest(
                f"settlement_delay_seconds is 0 to {MAX_SETTLEMENT_DELAY_SECONDS} (90 days)",
                param="settlement_delay_seconds",
            )
        current = await FeePlanRepository.from_session(session).plan_for(
            merchant_id or "", operator, currency
        )
        before = _plan(current) if current is not None else None
        await FeePlanRepository.from_session(session).upsert(
            merchant_id=merchant_id,
            operator=operator,
            currency=currency,
            percent_bps=percent_bps,
            fixed_amount=fixed_amount,
            settlement_delay_seconds=settlement_delay_seconds,
        )
        plan = FeePlan(
            operator, currency, percent_bps, fixed_amount, settlement_delay_seconds, merchant_id
        )
        await _audit(
            session,
            AuditAction.fee_plan_set,
            merchant_id,
            before,
            plan,
        )
        return plan


async def _audit(
    session: AsyncSession,
    action: AuditAction,
    merchant_id: str | None,
    before: FeePlan | None,
    after: FeePlan,
) -> None:
    await audit.record(
        session,
        action=action,
        target=("fee_plan", f"{merchant_id or 'default'}:{after.operator}:{after.currency}"),
        merchant_id=merchant_id,
        before=dataclasses.asdict(before) if before is not None else None,
        after=dataclasses.asdict(after),
    )


fee_plan = FeePlanService()
