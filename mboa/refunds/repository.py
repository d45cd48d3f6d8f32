from __future__ import annotations

from sqlalchemy import Select, func, select

from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.models import PaymentAttempt, PaymentIntent, Refund


class RefundRepository(RepositoryBase[Refund]):
    model = Refund

    async def get_for_update(self, refund_id: str) -> Refund | None:
        return await self.session.get(Refund, refund_id, with_for_update=True)

    def list_statement(
        self,
        *,
        payment_intent: str | None = None,
        status: str | None = None,
        created: CreatedRange | None = None,
    ) -> Select[Refund]:
        # Row-level security limits this to the request's merchant and mode.
        statement = select(Refund)
        if payment_intent is not None:
            statement = statement.where(Refund.payment_intent_id == payment_intent)
        if status is not None:
            statement = statement.where(Refund.status == status)
        if created is not None:
            statement = statement.where(*created.clauses(Refund.created_at))
        return statement

    async def intent_of_tenant_for_update(
        self, intent_id: str, *, merchant_id: str, livemode: bool
    ) -> PaymentIntent | None:
        """The intent to refund, locked (refunds of one intent queue here, so two of them never
        both see the same refundable amount). The platform role bypasses row-level security:
        the tenant is stated here."""
        statement = (
            select(PaymentIntent)
            .where(
                PaymentIntent.id == intent_id,
                PaymentIntent.merchant_id == merchant_id,
                PaymentIntent.livemode == livemode,
            )
            .with_for_update()
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def fee_returned(self, intent_id: str) -> int:
        """The fee given back by the intent's refunds that have not failed (a failed refund's
        share went back to the platform with its release)."""
        statement = select(func.coalesce(func.sum(Refund.fee_returned), 0)).where(
            Refund.payment_intent_id == intent_id, Refund.status != "failed"
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def refunded_for(self, intent_id: str, reason: str) -> int:
        """What the intent's refunds with `reason` that have not failed give back."""
        statement = select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_intent_id == intent_id,
            Refund.reason == reason,
            Refund.status != "failed",
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def intent_for_update(self, intent_id: str) -> PaymentIntent | None:
        return await self.session.get(PaymentIntent, intent_id, with_for_update=True)

    async def succeeded_attempt(self, intent_id: str) -> PaymentAttempt | None:
        """The attempt whose money we hold: the wallet a refund goes back to."""
        statement = (
            select(PaymentAttempt)
            .where(
                PaymentAttempt.payment_intent_id == intent_id,
                PaymentAttempt.status == "succeeded",
            )
            .order_by(PaymentAttempt.finished_at.desc(), PaymentAttempt.id.desc())
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()
