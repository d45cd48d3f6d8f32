"""MTN MoMo behind the provider port: neutral requests <-> MoMo Open API (docs/providers-wire.md §1)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Mapping

import httpx

from mboa.providers.amounts import from_wire_amount, to_wire_amount
from mboa.providers.base import OperatorEntry, ProviderSpec
from mboa.providers.errors import (
    InvalidRequest,
    ProviderError,
    ProviderNotFound,
    ReferenceConflict,
    UnsupportedCapability,
)
from mboa.providers.mtn_momo.client import MtnMomoClient
from mboa.providers.mtn_momo.config import MtnMomoSettings
from mboa.providers.mtn_momo.mapping import map_reason, map_status
from mboa.providers.mtn_momo.webhooks import parse_callback
from mboa.providers.mtn_momo.wire import Party, RequestToPay, TransactionStatusBody, Transfer
from mboa.providers.types import (
    Balance,
    Capability,
    CollectionFlow,
    CollectionRequest,
    DisbursementRequest,
    Product,
    ProviderName,
    ProviderNotification,
    TransactionRef,
    TransactionResult,
    TransactionStatus,
)

SPEC = ProviderSpec(
    name=ProviderName.mtn_momo,
    display_name="MTN Mobile Money",
    currencies=frozenset({"XAF"}),
    capabilities=frozenset(
        {
            Capability.collect,
            Capability.collection_status,
            Capability.disburse,
            Capability.disbursement_status,
            Capability.notifications,
            Capability.balance,
            Capability.account_holder_check,
        }
    ),
    collection_flows=frozenset({CollectionFlow.push}),
    # docs/providers-wire.md §3.2: 650-654, 67x, 680-683.
    phone_prefixes=("650", "651", "652", "653", "654", "67", "680", "681", "682", "683"),
)

# An apostrophe and some other characters make MTN answer 400 (docs/providers-wire.md §1.5).
_UNSAFE_TEXT = re.compile(r"[^0-9A-Za-z \-_.,:#/()À-ÿ]")


def wire_text(value: str) -> str:
    return _UNSAFE_TEXT.sub(" ", value).strip()[:160]


def msisdn(phone: str) -> str:
    """E.164 -> MTN's MSISDN: country code, no `+` (docs/providers-wire.md §1.5)."""
    digits = phone.removeprefix("+")
    if not digits.isdigit():
        raise InvalidRequest(f"not an E.164 number: {phone!r}", provider=ProviderName.mtn_momo)
    return digits


def _check_reference(reference: str | None) -> str:
    # MTN refuses anything but a UUID v4 with 400 (docs/providers-wire.md §1.2, §1.10).
    try:
        parsed = uuid.UUID(reference or "")
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != 4 or str(parsed) != (reference or "").lower():
        raise InvalidRequest(
            "MTN MoMo needs a UUID v4 reference from reserve_reference()",
            provider=ProviderName.mtn_momo,
        )
    return str(parsed)


class MtnMomoProvider:
    def __init__(
        self, settings: MtnMomoSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.client = MtnMomoClient(settings, transport=transport)

    @property
    def spec(self) -> ProviderSpec:
        return SPEC

    async def reserve_reference(self, product: Product) -> str:
        return str(uuid.uuid4())

    def _wire_currency(self, currency: str) -> str:
        if currency != self.settings.currency:
            raise InvalidRequest(
                f"this MTN MoMo account takes {self.settings.currency}, not {currency}",
                provider=ProviderName.mtn_momo,
            )
        return self.settings.wire_currency or currency

    def _result(
        self, ref: TransactionRef, wire: TransactionStatusBody, *, already_existed: bool = False
    ) -> TransactionResult:
        status = map_status(wire.status)
        amount: int | None = None
        if wire.amount is not None:
            try:
                # With a sandbox `wire_currency`, the wire amount is in our currency's units.
                amount = from_wire_amount(wire.amount, self.settings.currency)
            except ValueError:
                amount = None
        return TransactionResult(
            ref=ref,
            status=status,
            failure_code=map_reason(wire.reason_code, ref.product)
            if status is TransactionStatus.failed
            else None,
            raw_status=wire.status,
            raw_reason=wire.reason_code,
            operator_transaction_id=wire.financialTransactionId,
            amount=amount,
            currency=self.settings.currency if wire.currency else None,
            already_existed=already_existed,
        )

    def _same_request(self, wire: TransactionStatusBody, external_id: str, amount: int) -> bool:
        # After a 409 the stored resource must be ours, not a reference reused by mistake.
        if wire.externalId is not None and wire.externalId != external_id:
            return False
        if wire.amount is not None:
            try:
                return from_wire_amount(wire.amount, self.settings.currency) == amount
            except ValueError:
                return False
        return True

    async def _already_accepted(
        self, ref: TransactionRef, external_id: str, amount: int, cause: ProviderError | None
    ) -> TransactionResult:
        """409 RESOURCE_ALREADY_EXIST means an earlier try got through: read it (§5.1)."""
        read = (
            self.client.request_to_pay_status
            if ref.product is Product.collection
            else self.client.transfer_status
        )
        wire = await read(ref.reference)
        if not self._same_request(wire, external_id, amount):
            raise ReferenceConflict(
                "MTN MoMo already holds this reference for another request",
                provider=ProviderName.mtn_momo,
                raw_code="RESOURCE_ALREADY_EXIST",
            ) from cause
        return self._result(ref, wire, already_existed=True)

    async def _create(
        self,
        ref: TransactionRef,
        external_id: str,
        amount: int,
        send: Callable[[], Awaitable[None]],
    ) -> TransactionResult:
        try:
            await send()
        except ReferenceConflict as exc:
            return await self._already_accepted(ref, external_id, amount, exc)
        except ProviderError as exc:
            if not exc.outcome_unknown:
                raise
            # Out of retries without an answer: maybe MTN has it anyway. One read tells.
            try:
                return await self._already_accepted(ref, external_id, amount, exc)
            except ReferenceConflict:
                raise
            except ProviderError:
                raise exc from None
        return TransactionResult(ref=ref, status=TransactionStatus.pending)

    async def collect(self, request: CollectionRequest) -> TransactionResult:
        if request.flow is not CollectionFlow.push:
            raise UnsupportedCapability(
                "MTN MoMo has no redirect flow", provider=ProviderName.mtn_momo
            )
        if request.phone is None:
            raise InvalidRequest("a payer phone is required", provider=ProviderName.mtn_momo)
        reference = _check_reference(request.reference)
        text = wire_text(request.description or request.external_id)
        body = RequestToPay(
            amount=to_wire_amount(request.amount, request.currency),
            currency=self._wire_currency(request.currency),
            externalId=request.external_id,
            payer=Party(partyIdType="MSISDN", partyId=msisdn(request.phone)),
            payerMessage=text,
            payeeNote=text,
        )
        ref = TransactionRef(
            provider=ProviderName.mtn_momo,
            product=Product.collection,
            reference=reference,
            external_id=request.external_id,
            amount=request.amount,
        )

        async def send() -> None:
            await self.client.request_to_pay(reference, body, callback_url=request.callback_url)

        return await self._create(ref, request.external_id, request.amount, send)

    async def collection_status(self, ref: TransactionRef) -> TransactionResult:
        return self._result(ref, await self.client.request_to_pay_status(ref.reference))

    async def disburse(self, request: DisbursementRequest) -> TransactionResult:
        reference = _check_reference(request.reference)
        text = wire_text(request.description or request.external_id)
        body = Transfer(
            amount=to_wire_amount(request.amount, request.currency),
            currency=self._wire_currency(request.currency),
            externalId=request.external_id,
            payee=Party(partyIdType="MSISDN", partyId=msisdn(request.phone)),
            payerMessage=text,
            payeeNote=text,
        )
        ref = TransactionRef(
            provider=ProviderName.mtn_momo,
            product=Product.disbursement,
            reference=reference,
            external_id=request.external_id,
            amount=request.amount,
        )

        async def send() -> None:
            await self.client.transfer(reference, body, callback_url=request.callback_url)

        return await self._create(ref, request.external_id, request.amount, send)

    async def disbursement_status(self, ref: TransactionRef) -> TransactionResult:
        return self._result(ref, await self.client.transfer_status(ref.reference))

    def parse_notification(
        self,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        our_id: str | None = None,
    ) -> ProviderNotification:
        return parse_callback(body, our_id=our_id)

    def verify_notification(
        self, notification: ProviderNotification, *, expected_token: str | None
    ) -> None:
        # MTN signs nothing (docs/providers-wire.md §1.9): the status read is the verification.
        return None

    async def balance(self, product: Product = Product.collection) -> Balance:
        wire = await self.client.balance(product)
        try:
            available = from_wire_amount(wire.availableBalance, wire.currency)
        except ValueError as exc:
            raise InvalidRequest(
                f"unreadable balance {wire.availableBalance!r}", provider=ProviderName.mtn_momo
            ) from exc
        return Balance(available=available, currency=wire.currency)

    async def is_account_holder_active(self, phone: str) -> bool:
        try:
            result = await self.client.account_holder_active(Product.collection, msisdn(phone))
        except ProviderNotFound:
            return False
        return result.active

    async def resend_prompt(self, ref: TransactionRef) -> None:
        raise UnsupportedCapability(
            "MTN MoMo cannot re-send a prompt; create a new request", provider=ProviderName.mtn_momo
        )

    async def aclose(self) -> None:
        await self.client.aclose()


OPERATOR = OperatorEntry(
    SPEC, settings_of=lambda providers: providers.mtn_momo, build=MtnMomoProvider
)
"""This operator's one registration entry (listed in `mboa.providers.registry.OPERATORS`)."""
