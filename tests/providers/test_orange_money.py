"""Orange Money specifics: omcoreapis wire, 417 refusals, re-push, cash-in, WebPay."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr

from mboa.providers import ProviderName
from mboa.providers.errors import InvalidNotification, InvalidRequest, UnsupportedCapability
from mboa.providers.orange_money.adapter import OrangeMoneyProvider
from mboa.providers.types import (
    CollectionFlow,
    CollectionRequest,
    FailureCode,
    Product,
    TransactionResult,
    TransactionStatus,
)
from mboa.simulator.run import RunningSimulators

from .conftest import CallbackSink, Case, build_case


@pytest_asyncio.fixture
async def orange(sims: RunningSimulators, sink: CallbackSink) -> AsyncIterator[Case]:
    case = build_case(ProviderName.orange_money, sims, sink)
    yield case
    await case.provider.aclose()


class TestWire:
    async def test_token_init_and_pay(self, orange: Case) -> None:
        await orange.collect("+237690123456", amount=1500, our_id="att_5")
        token, init, pay = list(orange.engine.requests)[:3]

        basic = base64.b64encode(b"simulator-consumer-key:simulator-consumer-secret").decode()
        assert (token.method, token.path) == ("POST", "/token")
        assert token.headers["authorization"] == f"Basic {basic}"
        assert token.body == b"grant_type=client_credentials"

        x_auth = base64.b64encode(b"simulator-api-user:simulator-api-password").decode()
        assert (init.method, init.path) == ("POST", "/omcoreapis/1.0.2/mp/init")
        assert init.body == b""
        assert init.headers["x-auth-token"] == x_auth
        assert init.headers["authorization"].startswith("Bearer ")

        assert pay.path == "/omcoreapis/1.0.2/mp/pay"
        body = pay.json()
        assert body == {
            "notifUrl": f"{orange.sink.url}/cb/att_5",
            "channelUserMsisdn": "699112233",
            "amount": "1500",
            "subscriberMsisdn": "690123456",
            "pin": "2222",
            "orderId": "att_5",
            "description": "Order 42",
            "payToken": body["payToken"],
        }
        assert all(isinstance(v, str) for v in body.values())

    async def test_explicit_x_auth_token(self, sims: RunningSimulators, sink: CallbackSink) -> None:
        case = build_case(
            ProviderName.orange_money, sims, sink, x_auth_token=SecretStr("issued-by-orange")
        )
        try:
            await case.provider.reserve_reference(Product.collection)
        finally:
            await case.provider.aclose()
        assert case.engine.requests[-1].headers["x-auth-token"] == "issued-by-orange"

    async def test_cashin_family_for_payouts(self, orange: Case) -> None:
        await orange.disburse("+237690123456", amount=5000)
        paths = [r.path for r in orange.engine.requests]
        assert "/omcoreapis/1.0.2/cashin/init" in paths
        assert "/omcoreapis/1.0.2/cashin/pay" in paths

    async def test_foreign_number_is_refused_before_calling(self, orange: Case) -> None:
        with pytest.raises(InvalidRequest):
            await orange.collect("+46733123450")
        assert not orange.creates()


class TestMerchantPayment:
    async def test_insufficient_funds_is_refused_at_once(self, orange: Case) -> None:
        result = await orange.collect(orange.magic("01"))
        assert result.status is TransactionStatus.failed
        assert result.failure_code is FailureCode.insufficient_funds
        assert result.raw_reason == "60019"
        # And the status read agrees.
        assert (await orange.status(result.ref)).failure_code is FailureCode.insufficient_funds

    async def test_resend_prompt(self, orange: Case) -> None:
        result = await orange.collect(orange.magic("13"))  # waits for the payer
        await orange.provider.resend_prompt(result.ref)
        assert (
            orange.engine.requests[-1].path == f"/omcoreapis/1.0.2/mp/push/{result.ref.reference}"
        )
        assert orange.engine.transactions[result.ref.reference].pushes == 2

    async def test_successfull_spelling(self, orange: Case) -> None:
        result = await orange.collect(orange.ordinary)
        final = await orange.wait_final(result.ref)
        assert final.raw_status == "SUCCESSFULL"
        assert final.status is TransactionStatus.succeeded

    async def test_expired_pay_token_is_failed(self, orange: Case) -> None:
        result = await orange.collect(orange.magic("03"))
        final = await orange.wait_final(result.ref)
        assert final.raw_status == "EXPIRED"

    async def test_unsupported_capabilities(self, orange: Case) -> None:
        assert isinstance(orange.provider, OrangeMoneyProvider)
        with pytest.raises(UnsupportedCapability):
            await orange.provider.balance()
        with pytest.raises(UnsupportedCapability):
            await orange.provider.is_account_holder_active(orange.ordinary)


async def _webpay(orange: Case, *, our_id: str = "ord_1", amount: int = 2500) -> TransactionResult:
    return await orange.provider.collect(
        CollectionRequest(
            external_id=our_id,
            amount=amount,
            currency="XAF",
            flow=CollectionFlow.redirect,
            callback_url=orange.callback(our_id),
            return_url="http://127.0.0.1:8000/done",
            cancel_url="http://127.0.0.1:8000/cancel",
        )
    )


class TestWebPay:
    async def test_redirect_flow(self, orange: Case) -> None:
        result = await _webpay(orange)
        assert result.status is TransactionStatus.pending
        assert result.raw_status == "INITIATED"
        assert result.redirect_url
        assert result.notification_token
        init = orange.engine.requests[-1]
        assert init.path == "/orange-money-webpay/cm/v1/webpayment"
        assert init.json()["amount"] == 2500  # a number on WebPay (docs/providers-wire.md §5.4)
        assert init.json()["notif_url"] == f"{orange.sink.url}/cb/ord_1"

        async with httpx.AsyncClient() as payer:
            page = await payer.get(result.redirect_url)
            assert "2500" in page.text
            submitted = await payer.post(
                result.redirect_url,
                data={"msisdn": "690 12 34 56", "action": "confirm"},
            )
        assert submitted.status_code == 303
        assert submitted.headers["location"] == "http://127.0.0.1:8000/done"

        final = await orange.wait_final(result.ref)
        assert final.status is TransactionStatus.succeeded
        assert final.raw_status == "SUCCESS"
        status_call = orange.engine.requests[-1]
        assert status_call.path == "/orange-money-webpay/cm/v1/transactionstatus"
        assert status_call.json() == {
            "order_id": "ord_1",
            "amount": 2500,
            "pay_token": result.ref.reference,
        }

        received = await orange.sink.wait_for("ord_1")
        note = orange.provider.parse_notification(received[0].body, our_id="ord_1")
        assert note.status is TransactionStatus.succeeded
        orange.provider.verify_notification(note, expected_token=result.notification_token)
        with pytest.raises(InvalidNotification):
            orange.provider.verify_notification(note, expected_token="forged")

    async def test_cancel_on_the_payment_page(self, orange: Case) -> None:
        result = await _webpay(orange, our_id="ord_2")
        assert result.redirect_url is not None
        async with httpx.AsyncClient() as payer:
            cancelled = await payer.post(result.redirect_url, data={"action": "cancel"})
        assert cancelled.headers["location"] == "http://127.0.0.1:8000/cancel"
        final = await orange.wait_final(result.ref)
        assert final.status is TransactionStatus.failed
        assert final.raw_status == "FAILED"

    async def test_never_paid_expires(self, orange: Case) -> None:
        result = await _webpay(orange, our_id="ord_3")
        final = await orange.wait_final(result.ref)
        assert final.raw_status == "EXPIRED"
        assert final.failure_code is FailureCode.expired

    async def test_repeated_init_returns_the_same_pay_token(self, orange: Case) -> None:
        first = await _webpay(orange, our_id="ord_4")
        again = await _webpay(orange, our_id="ord_4")
        assert first.ref == again.ref
