from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, select, update

from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.models import PaymentAttempt, PaymentIntent, Refund, RefundDisbursement


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


class RefundDisbursementRepository(RepositoryBase[RefundDisbursement]):
    model = RefundDisbursement

    async def get_for_update(self, disbursement_id: str) -> RefundDisbursement | None:
        return await self.session.get(RefundDisbursement, disbursement_id, with_for_update=True)

    async def of_refunds(self, ids: list[str]) -> dict[str, RefundDisbursement]:
        if not ids:
            return {}
        rows = await self.session.execute(
            select(RefundDisbursement).where(RefundDisbursement.id.in_(ids))
        )
        return {d.id: d for d in rows.scalars()}

    async def set_reference(self, disbursement_id: str, reference: str) -> str:
        """Store the operator reference once; a concurrent run keeps the first one stored."""
        await self.session.execute(
            update(RefundDisbursement)
            .where(
                RefundDisbursement.id == disbursement_id,
                RefundDisbursement.operator_reference.is_(None),
            )
            .values(operator_reference=reference)
        )
        stored = await self.session.execute(
            select(RefundDisbursement.operator_reference).where(
                RefundDisbursement.id == disbursement_id
            )
        )
        return str(stored.scalar_one())

    async def due_for_check(self, now: dt.datetime, limit: int) -> list[str]:
        """Disbursements still pending whose next status read is due (platform role)."""
        statement = (
            select(RefundDisbursement.id)
            .where(
                RefundDisbursement.status == "pending",
                RefundDisbursement.next_check_at <= now,
            )
            .order_by(RefundDisbursement.next_check_at)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    async def schedule_check(self, disbursement_id: str, at: dt.datetime) -> None:
        await self.session.execute(
            update(RefundDisbursement)
            .where(RefundDisbursement.id == disbursement_id, RefundDisbursement.status == "pending")
            .values(next_check_at=at, status_checks=RefundDisbursement.status_checks + 1)
        )
