"""Orange Money behind the provider port (docs/providers-wire.md §2).

Push collections use omcoreapis `mp/*`, payouts `cashin/*`, redirect collections WebPay. Orange
chooses the reference (`payToken`), so `reserve_reference()` calls `init` and the caller
persists the token before `collect`/`disburse` call `pay`.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from mboa.providers.amounts import from_wire_amount, to_wire_amount
from mboa.providers.base import OperatorEntry, ProviderSpec
from mboa.providers.errors import (
    InvalidRequest,
    ProviderError,
    ProviderRejected,
    UnsupportedCapability,
)
from mboa.providers.orange_money import webhooks
from mboa.providers.orange_money.client import CASHIN, MP, OrangeMoneyClient
from mboa.providers.orange_money.config import OrangeMoneySettings
from mboa.providers.orange_money.mapping import map_failure, map_status
from mboa.providers.orange_money.wire import MpTransaction, PayBody, WebPayInit, WebPayStatusQuery
from mboa.providers.types import (
    Balance,
    Capability,
    CollectionFlow,
    CollectionRequest,
    DisbursementRequest,
    FailureCode,
    Product,
    ProviderName,
    ProviderNotification,
    TransactionRef,
    TransactionResult,
    TransactionStatus,
)

SPEC = ProviderSpec(
    name=ProviderName.orange_money,
    display_name="Orange Money",
    currencies=frozenset({"XAF"}),
    capabilities=frozenset(
        {
            Capability.collect,
            Capability.collection_status,
            Capability.disburse,
            Capability.disbursement_status,
            Capability.notifications,
            Capability.resend_prompt,
        }
    ),
    collection_flows=frozenset({CollectionFlow.push, CollectionFlow.redirect}),
    # docs/providers-wire.md §3.2: 655-659, 686-687, 69x.
    phone_prefixes=("655", "656", "657", "658", "659", "686", "687", "69"),
)

_LABEL = {Product.collection: MP, Product.disbursement: CASHIN}


def national_msisdn(phone: str) -> str:
    """E.164 -> the 9-digit national number without 237 that omcoreapis wants (§2.2)."""
    digits = phone.removeprefix("+")
    if not (digits.startswith("237") and len(digits) == 12 and digits.isdigit()):
        raise InvalidRequest(
            f"Orange Money Cameroon takes Cameroonian numbers only, got {phone!r}",
            provider=ProviderName.orange_money,
        )
    return digits[3:]


def _for_product(product: Product, failure: FailureCode) -> FailureCode:
    # "Beneficiaire introuvable" names the other party: on a cash-in that is the payee.
    if product is Product.disbursement and failure is FailureCode.payer_not_found:
        return FailureCode.payee_not_found
    return failure


class OrangeMoneyProvider:
    def __init__(
        self, settings: OrangeMoneySettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.client = OrangeMoneyClient(settings, transport=transport)

    @property
    def spec(self) -> ProviderSpec:
        return SPEC

    async def reserve_reference(self, product: Product) -> str:
        return await self.client.init(_LABEL[product])

    def _check_currency(self, currency: str) -> None:
        if currency != self.settings.currency:
            raise InvalidRequest(
                f"this Orange Money account takes {self.settings.currency}, not {currency}",
                provider=ProviderName.orange_money,
            )

    def _result(
        self, ref: TransactionRef, tx: MpTransaction, *, already_existed: bool = False
    ) -> TransactionResult:
        status = map_status(tx.status)
        amount: int | None = None
        if tx.amount is not None:
            try:
                amount = from_wire_amount(tx.amount, self.settings.currency)
            except ValueError:
                amount = None
        failure = None
        if status is TransactionStatus.failed:
            failure = _for_product(
                ref.product,
                map_failure(
                    tx.status,
                    (tx.confirmtxnstatus, tx.inittxnstatus),
                    (tx.confirmtxnmessage, tx.inittxnmessage, tx.txnmessage),
                ),
            )
        return TransactionResult(
            ref=ref,
            status=status,
            failure_code=failure,
            raw_status=tx.status,
            raw_reason=tx.confirmtxnstatus or tx.inittxnstatus,
            operator_transaction_id=tx.txnid,
            amount=amount,
            currency=self.settings.currency if amount is not None else None,
            already_existed=already_existed,
        )

    async def _pay(self, ref: TransactionRef, body: PayBody) -> TransactionResult:
        label = _LABEL[ref.product]

        async def attempt() -> TransactionResult:
            try:
                return self._result(ref, await self.client.pay(label, body))
            except ProviderRejected as exc:
                # Refused at once with a FAILED transaction (e.g. 60019 insufficient funds).
                return TransactionResult(
                    ref=ref,
                    status=TransactionStatus.failed,
                    failure_code=_for_product(ref.product, exc.failure_code or FailureCode.unknown),
                    raw_status="FAILED",
                    raw_reason=exc.raw_code,
                )
            except ProviderError as exc:
                if not (exc.retryable or exc.outcome_unknown):
                    raise
                # Orange documents no idempotency for `pay`: before sending it again, ask
                # whether the previous one arrived (docs/providers-wire.md §2.2, §5.1).
                try:
                    tx = await self.client.status(label, ref.reference)
                except ProviderError:
                    raise exc from None
                if tx.was_submitted:
                    return self._result(ref, tx, already_existed=True)
                if exc.http_status is not None and exc.http_status >= 500:
                    # Orange answered with a 5xx and holds no payment for this payToken: this
                    # call is known not to have been processed (a timeout stays unknown).
                    exc.outcome_unknown = False
                raise

        return await self.client.http.retrying(attempt)

    async def collect(self, request: CollectionRequest) -> TransactionResult:
        self._check_currency(request.currency)
        if request.flow is CollectionFlow.redirect:
            return await self._webpay(request)
        if request.phone is None or not request.reference:
            raise InvalidRequest(
                "push collections need a payer phone and a reserved payToken",
                provider=ProviderName.orange_money,
            )
        body = PayBody(
            notifUrl=request.callback_url,
            channelUserMsisdn=self.settings.channel_user_msisdn,
            amount=to_wire_amount(request.amount, request.currency),
            subscriberMsisdn=national_msisdn(request.phone),
            pin=self.settings.pin.get_secret_value(),
            orderId=request.external_id,
            description=request.description or request.external_id,
            payToken=request.reference,
        )
        ref = TransactionRef(
            provider=ProviderName.orange_money,
            product=Product.collection,
            reference=request.reference,
            external_id=request.external_id,
            amount=request.amount,
        )
        return await self._pay(ref, body)

    async def _webpay(self, request: CollectionRequest) -> TransactionResult:
        w = self.settings.webpay
        if not w.enabled:
            raise UnsupportedCapability(
                "Orange WebPay is disabled", provider=ProviderName.orange_money
            )
        if not request.callback_url:
            raise InvalidRequest("WebPay needs a notif_url", provider=ProviderName.orange_money)
        response = await self.client.webpayment(
            WebPayInit(
                merchant_key=w.merchant_key.get_secret_value(),
                currency=w.currency,
                order_id=request.external_id,
                # WebPay takes a JSON number, unlike omcoreapis (docs/providers-wire.md §5.4).
                amount=request.amount,
                return_url=request.return_url or w.return_url,
                cancel_url=request.cancel_url or w.cancel_url,
                notif_url=request.callback_url,
                lang=w.lang,
                reference=w.reference,
            )
        )
        return TransactionResult(
            ref=TransactionRef(
                provider=ProviderName.orange_money,
                product=Product.collection,
                reference=response.pay_token,
                flow=CollectionFlow.redirect,
                external_id=request.external_id,
                amount=request.amount,
            ),
            status=TransactionStatus.pending,
            raw_status="INITIATED",
            redirect_url=response.payment_url,
            notification_token=response.notif_token,
        )

    async def collection_status(self, ref: TransactionRef) -> TransactionResult:
        if ref.flow is CollectionFlow.redirect:
            if ref.external_id is None or ref.amount is None:
                raise InvalidRequest(
                    "WebPay status needs order id and amount", provider=ProviderName.orange_money
                )
            wire = await self.client.webpay_status(
                WebPayStatusQuery(
                    order_id=ref.external_id, amount=ref.amount, pay_token=ref.reference
                )
            )
            status = map_status(wire.status)
            return TransactionResult(
                ref=ref,
                status=status,
                failure_code=(
                    map_failure(wire.status, (), ()) if status is TransactionStatus.failed else None
                ),
                raw_status=wire.status,
                operator_transaction_id=wire.txnid,
            )
        return self._result(ref, await self.client.status(MP, ref.reference))

    async def disburse(self, request: DisbursementRequest) -> TransactionResult:
        self._check_currency(request.currency)
        body = PayBody(
            notifUrl=request.callback_url,
            channelUserMsisdn=self.settings.channel_user_msisdn,
            amount=to_wire_amount(request.amount, request.currency),
            subscriberMsisdn=national_msisdn(request.phone),
            pin=self.settings.pin.get_secret_value(),
            orderId=request.external_id,
            description=request.description or request.external_id,
            payToken=request.reference,
        )
        ref = TransactionRef(
            provider=ProviderName.orange_money,
            product=Product.disbursement,
            reference=request.reference,
            external_id=request.external_id,
            amount=request.amount,
        )
        return await self._pay(ref, body)

    async def disbursement_status(self, ref: TransactionRef) -> TransactionResult:
        return self._result(ref, await self.client.status(CASHIN, ref.reference))

    def parse_notification(
        self,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        our_id: str | None = None,
    ) -> ProviderNotification:
        return webhooks.parse_notification(body, our_id=our_id, currency=self.settings.currency)

    def verify_notification(
        self, notification: ProviderNotification, *, expected_token: str | None
    ) -> None:
        webhooks.verify_token(notification, expected_token)

    async def balance(self, product: Product = Product.collection) -> Balance:
        raise UnsupportedCapability(
            "no balance call is documented for omcoreapis", provider=ProviderName.orange_money
        )

    async def is_account_holder_active(self, phone: str) -> bool:
        raise UnsupportedCapability(
            "no account-holder check is documented for Orange Money",
            provider=ProviderName.orange_money,
        )

    async def resend_prompt(self, ref: TransactionRef) -> None:
        await self.client.push(ref.reference)

    async def aclose(self) -> None:
        await self.client.aclose()


OPERATOR = OperatorEntry(
    SPEC, settings_of=lambda providers: providers.orange_money, build=OrangeMoneyProvider
)
"""This operator's one registration entry (listed in `mboa.providers.registry.OPERATORS`)."""
