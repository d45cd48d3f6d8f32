"""MTN MoMo specifics: the exact wire, MTN's own sandbox numbers, the error table."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pydantic import SecretStr

from mboa.providers import ProviderName
from mboa.providers.errors import (
    InvalidRequest,
    ProviderAuthError,
    ProviderConfigurationError,
    ProviderInternalError,
    ProviderUnavailable,
    ReferenceConflict,
    UnsupportedCapability,
)
from mboa.providers.mtn_momo import MtnMomoSettings
from mboa.providers.mtn_momo.adapter import MtnMomoProvider
from mboa.providers.mtn_momo.config import MtnProductCredentials
from mboa.providers.types import (
    CollectionRequest,
    FailureCode,
    Product,
    TransactionRef,
    TransactionStatus,
)
from mboa.simulator.run import RunningSimulators

from .conftest import CallbackSink, Case, build_case


@pytest_asyncio.fixture
async def mtn(sims: RunningSimulators, sink: CallbackSink) -> AsyncIterator[Case]:
    case = build_case(ProviderName.mtn_momo, sims, sink)
    yield case
    await case.provider.aclose()


def sandbox(n: int) -> str:
    return f"+46733123{n}"


class TestWire:
    async def test_token_call(self, mtn: Case) -> None:
        await mtn.collect(mtn.ordinary)
        token = mtn.engine.requests[0]
        creds = mtn_settings_of(mtn).collection
        expected = base64.b64encode(
            f"{creds.api_user}:{creds.api_key.get_secret_value()}".encode()
        ).decode()

        assert (token.method, token.path) == ("POST", "/collection/token/")
        assert token.headers["authorization"] == f"Basic {expected}"
        assert token.headers["ocp-apim-subscription-key"] == "simulator-subscription-key"
        assert token.body == b""  # MTN answers 400 to a body (docs/providers-wire.md §1.4)

    async def test_request_to_pay(self, mtn: Case) -> None:
        reference = await mtn.provider.reserve_reference(Product.collection)
        await mtn.collect("+237670123456", reference=reference, amount=1500, our_id="att_9")
        sent = mtn.creates()[0]

        assert sent.path == "/collection/v1_0/requesttopay"
        assert sent.headers["x-reference-id"] == reference
        assert uuid.UUID(reference).version == 4
        assert sent.headers["x-target-environment"] == "sandbox"
        assert sent.headers["x-callback-url"] == f"{mtn.sink.url}/cb/att_9"
        assert sent.headers["authorization"].startswith("Bearer ")
        assert sent.headers["ocp-apim-subscription-key"] == "simulator-subscription-key"
        assert sent.headers["content-type"] == "application/json"
        assert sent.json() == {
            "amount": "1500",
            "currency": "XAF",
            "externalId": "att_9",
            "payer": {"partyIdType": "MSISDN", "partyId": "237670123456"},
            "payerMessage": "Order 42",
            "payeeNote": "Order 42",
        }

    async def test_transfer_uses_the_disbursement_product(
        self, sims: RunningSimulators, sink: CallbackSink
    ) -> None:
        disbursement = MtnProductCredentials(subscription_key=SecretStr("disb-key"))
        case = build_case(ProviderName.mtn_momo, sims, sink, disbursement=disbursement)
        try:
            await case.disburse("+237670123456", amount=5000, our_id="po_9")
        finally:
            await case.provider.aclose()
        token, transfer = case.engine.requests[-2], case.engine.requests[-1]

        assert token.path == "/disbursement/token/"
        assert token.headers["ocp-apim-subscription-key"] == "disb-key"
        assert transfer.path == "/disbursement/v1_0/transfer"
        assert transfer.headers["ocp-apim-subscription-key"] == "disb-key"
        assert transfer.json()["payee"] == {"partyIdType": "MSISDN", "partyId": "237670123456"}
        assert transfer.json()["amount"] == "5000"

    async def test_status_read(self, mtn: Case) -> None:
        result = await mtn.collect(mtn.ordinary)
        await mtn.status(result.ref)
        read = mtn.engine.requests[-1]
        assert (read.method, read.path) == (
            "GET",
            f"/collection/v1_0/requesttopay/{result.ref.reference}",
        )
        assert read.headers["x-target-environment"] == "sandbox"

    async def test_unsafe_characters_are_cleaned(self, mtn: Case) -> None:
        reference = await mtn.provider.reserve_reference(Product.collection)
        await mtn.provider.collect(
            CollectionRequest(
                external_id="att_1",
                amount=100,
                currency="XAF",
                phone=mtn.ordinary,
                reference=reference,
                description="L'épicerie <d'Awa>",
            )
        )
        body = mtn.creates()[0].json()
        assert "'" not in body["payerMessage"]
        assert body["payerMessage"].startswith("L épicerie")

    async def test_sandbox_wire_currency(self, sims: RunningSimulators, sink: CallbackSink) -> None:
        case = build_case(ProviderName.mtn_momo, sims, sink, wire_currency="EUR")
        try:
            result = await case.collect(case.ordinary, amount=20)
            final = await case.wait_final(result.ref)
        finally:
            await case.provider.aclose()
        assert case.creates()[0].json()["currency"] == "EUR"
        assert final.amount == 20


def mtn_settings_of(case: Case) -> MtnMomoSettings:
    assert isinstance(case.provider, MtnMomoProvider)
    return case.provider.settings


SANDBOX_COLLECTIONS = [
    (450, FailureCode.operator_error),
    (451, FailureCode.declined),
    (452, FailureCode.expired),
    (455, FailureCode.payer_not_found),
    (456, FailureCode.not_allowed),  # PAYEE_NOT_ALLOWED_TO_RECEIVE: our merchant account
    (463, FailureCode.expired),
]


class TestSandboxNumbers:
    @pytest.mark.parametrize(("number", "failure"), SANDBOX_COLLECTIONS)
    async def test_failed_request_to_pay(
        self, mtn: Case, number: int, failure: FailureCode
    ) -> None:
        result = await mtn.collect(sandbox(number))
        final = await mtn.wait_final(result.ref)
        assert final.status is TransactionStatus.failed
        assert final.failure_code is failure

    async def test_453_stays_pending(self, mtn: Case) -> None:
        result = await mtn.collect(sandbox(453))
        await asyncio.sleep(0.7)
        assert (await mtn.status(result.ref)).status is TransactionStatus.pending

    async def test_454_shows_created_then_succeeds(self, mtn: Case) -> None:
        result = await mtn.collect(sandbox(454))
        first = await mtn.status(result.ref)
        assert first.raw_status == "CREATED"
        assert first.status is TransactionStatus.pending
        assert (await mtn.wait_final(result.ref)).status is TransactionStatus.succeeded

    @pytest.mark.parametrize(
        ("number", "code"),
        [
            (457, "NOT_ALLOWED"),
            (458, "NOT_ALLOWED_TARGET_ENVIRONMENT"),
            (459, "INVALID_CALLBACK_URL_HOST"),
            (460, "INVALID_CURRENCY"),
        ],
    )
    async def test_configuration_errors_are_not_retried(
        self, mtn: Case, number: int, code: str
    ) -> None:
        with pytest.raises(ProviderConfigurationError) as raised:
            await mtn.collect(sandbox(number))
        assert raised.value.raw_code == code
        assert raised.value.http_status == 500
        assert not raised.value.retryable
        assert len(mtn.creates()) == 1

    async def test_internal_processing_error_is_read_not_resent(self, mtn: Case) -> None:
        with pytest.raises(ProviderInternalError) as raised:
            await mtn.collect(sandbox(461))
        assert raised.value.outcome_unknown
        assert len(mtn.creates()) == 1
        # The adapter looked for the transaction before giving up.
        assert mtn.engine.requests[-1].method == "GET"

    async def test_service_unavailable_is_retried(self, mtn: Case) -> None:
        with pytest.raises(ProviderUnavailable):
            await mtn.collect(sandbox(462))
        assert len(mtn.creates()) == 3

    @pytest.mark.parametrize(
        ("number", "failure"),
        [
            (455, FailureCode.insufficient_funds),
            (456, FailureCode.limit_reached),
            (457, FailureCode.payee_not_found),
        ],
    )
    async def test_transfer_table(self, mtn: Case, number: int, failure: FailureCode) -> None:
        result = await mtn.disburse(sandbox(number))
        final = await mtn.wait_final(result.ref)
        assert final.failure_code is failure

    async def test_account_holder_table(self, mtn: Case) -> None:
        assert await mtn.provider.is_account_holder_active(mtn.ordinary)
        assert not await mtn.provider.is_account_holder_active(sandbox(450))
        assert not await mtn.provider.is_account_holder_active(sandbox(451))
        assert not await mtn.provider.is_account_holder_active(mtn.magic("11"))
        with pytest.raises(ProviderConfigurationError):
            await mtn.provider.is_account_holder_active(sandbox(452))
        with pytest.raises(ProviderUnavailable):
            await mtn.provider.is_account_holder_active(sandbox(455))


class TestConflictsAndErrors:
    async def test_409_for_another_request_is_a_conflict(self, mtn: Case) -> None:
        reference = await mtn.provider.reserve_reference(Product.collection)
        await mtn.collect(mtn.ordinary, reference=reference, amount=100)
        with pytest.raises(ReferenceConflict):
            await mtn.collect(mtn.ordinary, reference=reference, amount=200)

    async def test_409_on_retry_reads_the_status(self, mtn: Case) -> None:
        reference = await mtn.provider.reserve_reference(Product.collection)
        await mtn.collect(mtn.ordinary, reference=reference, amount=100)
        again = await mtn.collect(mtn.ordinary, reference=reference, amount=100)
        assert again.already_existed
        assert again.amount == 100

    async def test_reference_must_be_uuid4(self, mtn: Case) -> None:
        with pytest.raises(InvalidRequest):
            await mtn.collect(mtn.ordinary, reference="order-1")
        with pytest.raises(InvalidRequest):
            await mtn.collect(mtn.ordinary, reference=str(uuid.uuid1()))
        assert len(mtn.engine.requests) == 0

    async def test_wrong_currency_is_refused_before_calling(self, mtn: Case) -> None:
        reference = await mtn.provider.reserve_reference(Product.collection)
        with pytest.raises(InvalidRequest):
            await mtn.provider.collect(
                CollectionRequest(
                    external_id="a",
                    amount=1,
                    currency="EUR",
                    phone=mtn.ordinary,
                    reference=reference,
                )
            )

    async def test_callback_host_must_match_the_api_user(self, mtn: Case) -> None:
        reference = await mtn.provider.reserve_reference(Product.collection)
        with pytest.raises(ProviderConfigurationError) as raised:
            await mtn.provider.collect(
                CollectionRequest(
                    external_id="a",
                    amount=1,
                    currency="XAF",
                    phone=mtn.ordinary,
                    reference=reference,
                    callback_url="http://evil.example/cb/a",
                )
            )
        assert raised.value.raw_code == "INVALID_CALLBACK_URL_HOST"

    async def test_bad_api_key_is_an_auth_error(
        self, sims: RunningSimulators, sink: CallbackSink
    ) -> None:
        creds = MtnProductCredentials(api_key=SecretStr("wrong"))
        case = build_case(ProviderName.mtn_momo, sims, sink, collection=creds)
        try:
            with pytest.raises(ProviderAuthError) as raised:
                await case.collect(case.ordinary)
        finally:
            await case.provider.aclose()
        assert raised.value.http_status == 401
        assert raised.value.raw_code == "login_failed"

    async def test_unknown_reference_is_not_found(self, mtn: Case) -> None:
        from mboa.providers.errors import ProviderNotFound

        ref = TransactionRef(
            provider=ProviderName.mtn_momo, product=Product.collection, reference=str(uuid.uuid4())
        )
        with pytest.raises(ProviderNotFound):
            await mtn.provider.collection_status(ref)

    async def test_production_environment_header(
        self, sims: RunningSimulators, sink: CallbackSink
    ) -> None:
        case = build_case(ProviderName.mtn_momo, sims, sink, target_environment="mtncameroon")
        try:
            await case.collect(case.ordinary)
        finally:
            await case.provider.aclose()
        assert case.creates()[0].headers["x-target-environment"] == "mtncameroon"

    async def test_resend_prompt_is_unsupported(self, mtn: Case) -> None:
        ref = TransactionRef(
            provider=ProviderName.mtn_momo, product=Product.collection, reference="x"
        )
        with pytest.raises(UnsupportedCapability):
            await mtn.provider.resend_prompt(ref)


class TestCallbacksAndBalance:
    @pytest.mark.parametrize("method", ["PUT", "POST"])
    async def test_callback_method(self, mtn: Case, method: str) -> None:
        mtn.engine.settings = mtn.engine.settings.model_copy(update={"callback_method": method})
        await mtn.collect(mtn.ordinary, our_id="att_m")
        received = await mtn.sink.wait_for("att_m")
        assert [r.method for r in received] == [method]
        note = mtn.provider.parse_notification(received[0].body, our_id="att_m")
        assert note.reference is None  # MTN does not send it (docs/providers-wire.md §1.9)
        assert note.external_id == "att_m"

    async def test_reason_as_object(self, mtn: Case) -> None:
        mtn.engine.settings = mtn.engine.settings.model_copy(update={"mtn_reason_as_object": True})
        result = await mtn.collect(mtn.magic("02"))
        final = await mtn.wait_final(result.ref)
        assert final.raw_reason == "APPROVAL_REJECTED"
        assert final.failure_code is FailureCode.declined

    async def test_balance_per_product(self, mtn: Case) -> None:
        mtn.engine.accounts["disbursement"] = 123_456
        collected = await mtn.collect(mtn.ordinary, amount=2500)
        await mtn.wait_final(collected.ref)

        collection = await mtn.provider.balance(Product.collection)
        disbursement = await mtn.provider.balance(Product.disbursement)

        assert (collection.available, collection.currency) == (2500, "XAF")
        assert disbursement.available == 123_456
        assert mtn.engine.requests[-1].path == "/disbursement/v1_0/account/balance"
