"""Fee plans: the default plans and merchants' own, read and written by staff."""

from __future__ import annotations

from sqlalchemy import delete, select, text

from mboa.kit.repository import RepositoryBase
from mboa.models import LedgerFeePlan


class FeePlanRepository(RepositoryBase[LedgerFeePlan]):
    model = LedgerFeePlan

    async def plan_for(
        self, merchant_id: str, operator: str, currency: str
    ) -> LedgerFeePlan | None:
        statement = (
            select(LedgerFeePlan)
            .where(
                LedgerFeePlan.operator == operator,
                LedgerFeePlan.currency == currency,
                (LedgerFeePlan.merchant_id == merchant_id) | LedgerFeePlan.merchant_id.is_(None),
            )
            .order_by(LedgerFeePlan.merchant_id.is_(None))
            .limit(1)
        )
        return await self.get_one_or_none(statement)

    async def default_plans(self) -> list[LedgerFeePlan]:
        statement = select(LedgerFeePlan).where(LedgerFeePlan.merchant_id.is_(None))
        return list((await self.session.execute(statement)).scalars())

    async def plans_of(self, merchant_id: str) -> list[LedgerFeePlan]:
        """The merchant's own plans and the default ones."""
        statement = select(LedgerFeePlan).where(
            (LedgerFeePlan.merchant_id == merchant_id) | LedgerFeePlan.merchant_id.is_(None)
        )
        return list((await self.session.execute(statement)).scalars())

    async def remove(self, merchant_id: str, operator: str, currency: str) -> None:
        await self.session.execute(
            delete(LedgerFeePlan).where(
                LedgerFeePlan.merchant_id == merchant_id,
                LedgerFeePlan.operator == operator,
                LedgerFeePlan.currency == currency,
            )
        )

    async def upsert(
        self,
        *,
        merchant_id: str | None,
        operator: str,
        currency: str,
        percent_bps: int,
        fixed_amount: int,
        settlement_delay_seconds: int,
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO ledger_fee_plans (merchant_id, operator, currency, percent_bps,"
                " fixed_amount, settlement_delay_seconds) VALUES (:m, :o, :c, :p, :f, :d)"
                # uq_ledger_fee_plans_key: the default plan's NULL merchant counts as one key.
                " ON CONFLICT ((coalesce(merchant_id, '')), operator, currency) DO UPDATE SET"
                " percent_bps = EXCLUDED.percent_bps, fixed_amount = EXCLUDED.fixed_amount,"
                " settlement_delay_seconds = EXCLUDED.settlement_delay_seconds,"
                " updated_at = now()"
            ),
            {
                "m": merchant_id,
                "o": operator,
                "c": currency,
                "p": percent_bps,
                "f": fixed_amount,
                "d": settlement_delay_seconds,
            },
        )
