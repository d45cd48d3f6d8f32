from __future__ import annotations

from sqlalchemy import select

from mboa.kit.repository import RepositoryBase
from mboa.models import CheckoutSession, Merchant, PaymentAttempt, PaymentIntent


class ReceiptRepository(RepositoryBase[PaymentIntent]):
    model = PaymentIntent

    async def facts(
        self, intent_id: str
    ) -> tuple[PaymentIntent, Merchant, PaymentAttempt | None, str | None] | None:
        """The intent, its merchant, the attempt that collected it and its checkout session's
        language, in one statement. Row-level security keeps it to the caller's merchant and
        mode; the joins still state the merchant."""
        statement = (
            select(PaymentIntent, Merchant, PaymentAttempt, CheckoutSession.locale)
            .join(Merchant, Merchant.id == PaymentIntent.merchant_id)
            .outerjoin(
                PaymentAttempt,
                (PaymentAttempt.id == PaymentIntent.latest_attempt_id)
                & (PaymentAttempt.merchant_id == PaymentIntent.merchant_id),
            )
            .outerjoin(
                CheckoutSession,
                (CheckoutSession.payment_intent_id == PaymentIntent.id)
                & (CheckoutSession.merchant_id == PaymentIntent.merchant_id),
            )
            .where(PaymentIntent.id == intent_id)
            .limit(1)
        )
        row = (await self.session.execute(statement)).first()
        if row is None:
            return None
        intent, merchant, attempt, locale = row
        return intent, merchant, attempt, locale
