"""Receipts: the PDF of a succeeded payment, built the first time someone asks for it (the API,
the dashboard, the payer's success page), then kept in object storage under
`merchants/<id>/receipts/<pi_…>-<fr|en>.pdf` and served from there. A receipt states the
payment as it was when it succeeded, so it never needs rebuilding (docs/payments.md,
"Receipts")."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.checkout.receipt import ReceiptFacts, render_receipt
from mboa.config import StorageSettings
from mboa.receipts.exceptions import PaymentIntentNotFound, ReceiptUnavailable
from mboa.receipts.repository import ReceiptRepository
from mboa.storage.backends import ObjectStore
from mboa.storage.exceptions import ObjectNotFound
from mboa.storage.keys import Purpose, object_key
from mboa.storage.service import storage as storage_service
from mboa.web.i18n import DEFAULT_LOCALE, LOCALES

PDF = "application/pdf"


@dataclasses.dataclass(frozen=True, slots=True)
class Receipt:
    merchant_id: str
    payment_intent_id: str
    locale: str
    key: str

    @property
    def filename(self) -> str:
        return f"receipt-{self.payment_intent_id}-{self.locale}.pdf"


class ReceiptService:
    async def pdf(
        self, session: AsyncSession, store: ObjectStore, *, intent_id: str, locale: str | None
    ) -> tuple[Receipt, bytes]:
        """The receipt and its bytes: from storage, or built and stored now. 404 for an intent
        the caller cannot see, 409 `receipt_unavailable` unless it succeeded."""
        receipt, facts, logo_key = await self._receipt(session, intent_id, locale)
        try:
            return receipt, (await store.get(receipt.key)).data
        except ObjectNotFound:
            pass
        logo = None
        if logo_key:
            try:
                logo = (await store.get(logo_key)).data
            except ObjectNotFound:
                logo = None
        data = await asyncio.to_thread(render_receipt, facts, receipt.locale, logo)
        await store.put(
            receipt.key,
            data,
            content_type=PDF,
            metadata={"payment_intent": receipt.payment_intent_id, "locale": receipt.locale},
        )
        return receipt, data

    async def signed_url(
        self,
        session: AsyncSession,
        store: ObjectStore,
        settings: StorageSettings,
        *,
        intent_id: str,
        locale: str | None,
    ) -> str:
        """A short-lived URL of the receipt (built first if needed): for the payer, who has no
        API key."""
        receipt, _ = await self.pdf(session, store, intent_id=intent_id, locale=locale)
        return await storage_service.signed_url(
            store,
            settings,
            merchant_id=receipt.merchant_id,
            key=receipt.key,
            download_name=receipt.filename,
        )

    async def _receipt(
        self, session: AsyncSession, intent_id: str, locale: str | None
    ) -> tuple[Receipt, ReceiptFacts, str | None]:
        found = await ReceiptRepository.from_session(session).facts(intent_id)
        if found is None:
            raise PaymentIntentNotFound(f"No such payment_intent: '{intent_id}'", param="id")
        intent, merchant, attempt, session_locale = found
        if intent.status != "succeeded" or intent.succeeded_at is None:
            raise ReceiptUnavailable(
                f"This payment has no receipt: it is {intent.status}, not succeeded."
            )
        chosen = locale if locale in LOCALES else None
        chosen = chosen or (session_locale if session_locale in LOCALES else DEFAULT_LOCALE)
        receipt = Receipt(
            merchant_id=intent.merchant_id,
            payment_intent_id=intent.id,
            locale=chosen,
            key=object_key(intent.merchant_id, Purpose.receipt, f"{intent.id}-{chosen}.pdf"),
        )
        facts = ReceiptFacts(
            payment_intent_id=intent.id,
            merchant_name=merchant.name,
            amount=intent.amount_received or intent.amount,
            currency=intent.currency,
            succeeded_at=intent.succeeded_at,
            provider=attempt.provider if attempt else intent.provider,
            operator_transaction_id=attempt.operator_transaction_id if attempt else None,
            phone_masked=attempt.phone_masked if attempt else None,
            reference=intent.reference,
            description=intent.description,
            livemode=intent.livemode,
        )
        return receipt, facts, merchant.logo_key


receipt = ReceiptService()
