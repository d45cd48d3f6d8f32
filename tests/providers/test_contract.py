"""One contract, every adapter: each runs against its simulator over real sockets."""

from __future__ import annotations

import asyncio
import logging

import pytest
import structlog
from prometheus_client import REGISTRY
from structlog.testing import LogCapture

from mboa.providers import ProviderName, _http, breaker_board
from mboa.providers.errors import CircuitOpen, ProviderUnavailable
from mboa.providers.types import FailureCode, Product, TransactionStatus
from mboa.simulator.engine import RecordedRequest
from mboa.simulator.run import RunningSimulators

from .conftest import RESILIENCE, CallbackSink, Case, build_case


def _reference_sent(case: Case, request: RecordedRequest) -> str:
    # MTN: the X-Reference-Id header; Orange: the payToken in the pay body.
    if case.name is ProviderName.mtn_momo:
        return request.headers["x-reference-id"]
    return str(request.json()["payToken"])


class TestCollectSuccess:
    async def test_pending_then_succeeded_and_money_moves(self, case: Case) -> None:
        wallet = case.engine.wallet(case.engine_msisdn(case.ordinary))
        result = await case.collect(case.ordinary, amount=1500)
        assert result.status is TransactionStatus.pending
        assert result.ref.provider is case.name
        assert result.ref.product is Product.collection

        final = await case.wait_final(result.ref)

        assert final.status is TransactionStatus.succeeded
        assert final.failure_code is None
        assert final.amount == 1500
        assert final.operator_transaction_id
        assert case.engine.wallet(case.engine_msisdn(case.ordinary)) == wallet - 1500
        assert case.engine.accounts["collection"] == 1500

    async def test_callback_parses_into_a_hint_for_our_record(self, case: Case) -> None:
        result = await case.collect(case.ordinary, our_id="att_cb")
        received = await case.sink.wait_for("att_cb")
        assert len(received) == 1

        notification = case.provider.parse_notification(received[0].body, our_id="att_cb")

        assert notification.provider is case.name
        assert notification.our_id == "att_cb"
        assert notification.status is TransactionStatus.succeeded
        assert notification.amount == 1500
        final = await case.status(result.ref)
        assert notification.operator_transaction_id == final.operator_transaction_id


OUTCOMES = [
    ("01", TransactionStatus.failed, FailureCode.insufficient_funds),
    ("02", TransactionStatus.failed, FailureCode.declined),
    ("03", TransactionStatus.failed, FailureCode.expired),
    ("05", TransactionStatus.succeeded, None),
    ("11", TransactionStatus.failed, FailureCode.payer_not_found),
    ("14", TransactionStatus.failed, FailureCode.limit_reached),
]


class TestOutcomes:
    @pytest.mark.parametrize(("code", "status", "failure"), OUTCOMES)
    async def test_magic_number_outcome(
        self, case: Case, code: str, status: TransactionStatus, failure: FailureCode | None
    ) -> None:
        result = await case.collect(case.magic(code))
        final = await case.wait_final(result.ref)

        assert final.status is status
        assert final.failure_code is failure
        assert final.raw_status is not None

    async def test_insufficient_funds_from_a_real_balance(self, case: Case) -> None:
        case.engine.wallets[case.engine_msisdn(case.ordinary)] = 999
        result = await case.collect(case.ordinary, amount=1000)
        final = await case.wait_final(result.ref)
        assert final.status is TransactionStatus.failed
        assert final.failure_code is FailureCode.insufficient_funds
        assert case.engine.wallet(case.engine_msisdn(case.ordinary)) == 999

    async def test_pending_forever_stays_pending_past_the_window(self, case: Case) -> None:
        result = await case.collect(case.magic("04"))
        await asyncio.sleep(case.engine.settings.approval_window_seconds + 0.1)
        assert (await case.status(result.ref)).status is TransactionStatus.pending

    async def test_success_after_our_timeout(self, case: Case) -> None:
        result = await case.collect(case.magic("08"))
        await asyncio.sleep(case.engine.settings.approval_window_seconds + 0.05)
        assert (await case.status(result.ref)).status is TransactionStatus.pending
        final = await case.wait_final(result.ref)
        assert final.status is TransactionStatus.succeeded

    async def test_callback_lost(self, case: Case) -> None:
        result = await case.collect(case.magic("06"), our_id="att_lost")
        assert (await case.wait_final(result.ref)).status is TransactionStatus.succeeded
        await asyncio.sleep(0.1)
        assert case.sink.for_id("att_lost") == []

    async def test_callback_duplicated_has_one_dedupe_key(self, case: Case) -> None:
        await case.collect(case.magic("07"), our_id="att_dup")
        received = await case.sink.wait_for("att_dup", count=2)
        assert len(received) == 2
        keys = {
            case.provider.parse_notification(r.body, our_id="att_dup").dedupe_key for r in received
        }
        assert len(keys) == 1


class TestRetriesReuseTheReference:
    async def test_operator_5xx_is_retried_with_the_same_reference_then_raised(
        self, case: Case
    ) -> None:
        reference = await case.provider.reserve_reference(Product.collection)
        with pytest.raises(ProviderUnavailable) as raised:
            await case.collect(case.magic("09"), reference=reference)

        creates = case.creates()
        assert len(creates) == 3
        assert {_reference_sent(case, r) for r in creates} == {reference}
        assert raised.value.http_status == 503
        assert not case.engine.transactions

    async def test_transient_5xx_succeeds_on_retry(self, case: Case) -> None:
        reference = await case.provider.reserve_reference(Product.collection)
        result = await case.collect(case.magic("12"), reference=reference)

        assert result.ref.reference == reference
        assert [_reference_sent(case, r) for r in case.creates()] == [reference, reference]
        assert (await case.wait_final(result.ref)).status is TransactionStatus.succeeded

    async def test_operator_timeout_finds_the_accepted_request(self, case: Case) -> None:
        reference = await case.provider.reserve_reference(Product.collection)
        wallet = case.engine.wallet(case.engine_msisdn(case.magic("10")))

        result = await case.collect(case.magic("10"), reference=reference, amount=700)

        assert result.already_existed
        assert {_reference_sent(case, r) for r in case.creates()} == {reference}
        assert list(case.engine.transactions) == [reference]
        final = await case.wait_final(result.ref)
        assert final.status is TransactionStatus.succeeded
        assert case.engine.wallet(case.engine_msisdn(case.magic("10"))) == wallet - 700

    async def test_collect_again_with_the_same_reference_moves_money_once(self, case: Case) -> None:
        reference = await case.provider.reserve_reference(Product.collection)
        first = await case.collect(case.ordinary, reference=reference, amount=300)
        await case.wait_final(first.ref)
        wallet = case.engine.wallet(case.engine_msisdn(case.ordinary))

        again = await case.collect(case.ordinary, reference=reference, amount=300)

        assert again.ref == first.ref
        assert again.status is TransactionStatus.succeeded
        assert len(case.engine.transactions) == 1
        assert case.engine.wallet(case.engine_msisdn(case.ordinary)) == wallet


class TestDisburse:
    async def test_payout_credits_the_wallet(self, case: Case) -> None:
        before = case.engine.wallet(case.engine_msisdn(case.ordinary))
        account = case.engine.accounts["disbursement"]
        result = await case.disburse(case.ordinary, amount=5000)
        final = await case.wait_final(result.ref)

        assert final.status is TransactionStatus.succeeded
        assert final.ref.product is Product.disbursement
        assert case.engine.wallet(case.engine_msisdn(case.ordinary)) == before + 5000
        assert case.engine.accounts["disbursement"] == account - 5000

    async def test_payout_without_funds_fails(self, case: Case) -> None:
        case.engine.accounts["disbursement"] = 100
        result = await case.disburse(case.ordinary, amount=5000)
        final = await case.wait_final(result.ref)
        assert final.status is TransactionStatus.failed
        assert final.failure_code is FailureCode.insufficient_funds

    async def test_payout_to_an_unknown_wallet(self, case: Case) -> None:
        result = await case.disburse(case.magic("11"))
        final = await case.wait_final(result.ref)
        assert final.status is TransactionStatus.failed
        assert final.failure_code is FailureCode.payee_not_found

    async def test_payout_callback(self, case: Case) -> None:
        await case.disburse(case.ordinary, our_id="po_cb")
        received = await case.sink.wait_for("po_cb")
        note = case.provider.parse_notification(received[0].body, our_id="po_cb")
        assert note.status is TransactionStatus.succeeded


def _token_calls(case: Case) -> list[object]:
    return [r for r in case.engine.requests if r.path.endswith(("/token/", "/token"))]


class TestTokens:
    async def test_token_is_cached(self, case: Case) -> None:
        for n in range(3):
            await case.collect(case.ordinary, our_id=f"att_{n}")
        tokens = [r for r in case.engine.requests if r.path.endswith(("/token/", "/token"))]
        assert len(tokens) == 1

    async def test_token_is_refreshed_before_expiry(
        self, case: Case, sims: RunningSimulators, sink: CallbackSink
    ) -> None:
        case.engine.settings = case.engine.settings.model_copy(update={"token_ttl_seconds": 1})
        early = RESILIENCE.model_copy(update={"token_refresh_margin_seconds": 0.6})
        adapter = build_case(case.name, sims, sink, resilience=early)
        try:
            first = await adapter.collect(case.ordinary, our_id="att_a")
            await asyncio.sleep(0.3)
            await adapter.status(first.ref)
            assert len(_token_calls(case)) == 1
            await asyncio.sleep(0.25)  # 0.55 s: inside the 0.6 s margin of a 1 s token
            final = await adapter.status(first.ref)
        finally:
            await adapter.provider.aclose()

        assert len(_token_calls(case)) == 2
        assert final.status is TransactionStatus.succeeded

    async def test_a_revoked_token_is_replaced_once(self, case: Case) -> None:
        result = await case.collect(case.ordinary)
        case.engine.revoke_tokens()  # type: ignore[attr-defined]

        final = await case.wait_final(result.ref)

        assert final.status is TransactionStatus.succeeded
        tokens = [r for r in case.engine.requests if r.path.endswith(("/token/", "/token"))]
        assert len(tokens) == 2


def _breaker_state(case: Case, product: str) -> float | None:
    return REGISTRY.get_sample_value(
        "mboa_provider_breaker_state", {"provider": case.name.value, "product": product}
    )


class TestCircuitBreaker:
    async def test_opens_on_outage_and_closes_after_recovery(self, case: Case) -> None:
        result = await case.collect(case.ordinary)
        case.engine.settings = case.engine.settings.model_copy(update={"failure_rate": 1.0})

        with pytest.raises(ProviderUnavailable):
            await case.status(result.ref)
        assert _breaker_state(case, "collection") == 2
        # What this process's worker publishes for the console (providers.breaker_board).
        assert breaker_board.local_states()[f"{case.name.value}:collection"] == "opened"
        calls = len(case.engine.requests)
        with pytest.raises(CircuitOpen):
            await case.status(result.ref)
        assert len(case.engine.requests) == calls  # not even tried

        case.engine.settings = case.engine.settings.model_copy(update={"failure_rate": 0.0})
        # Another product has its own breaker: payouts still work.
        payout = await case.disburse(case.ordinary)
        assert payout.status is not None
        await asyncio.sleep(0.35)  # the breaker's TTL
        assert (await case.status(result.ref)).ref == result.ref
        assert _breaker_state(case, "collection") == 0
        assert breaker_board.local_states()[f"{case.name.value}:collection"] == "closed"


class TestObservability:
    async def test_metrics_count_calls_by_outcome(self, case: Case) -> None:
        operation = "requesttopay" if case.name is ProviderName.mtn_momo else "mp_pay"
        labels = {
            "provider": case.name.value,
            "product": "collection",
            "operation": operation,
            "outcome": "ok",
        }
        before = REGISTRY.get_sample_value("mboa_provider_calls_total", labels) or 0
        await case.collect(case.ordinary)
        assert REGISTRY.get_sample_value("mboa_provider_calls_total", labels) == before + 1
        count = REGISTRY.get_sample_value(
            "mboa_provider_call_duration_seconds_count",
            {"provider": case.name.value, "product": "collection", "operation": operation},
        )
        assert count is not None
        assert count >= 1

    async def test_logs_mask_phone_numbers_and_secrets(
        self, case: Case, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Capture the providers' logger itself: once a test has started the API, structlog is
        # configured process-wide at WARNING with loggers cached on first use, and a global
        # `capture_logs()` would then see no `provider.call` (info) at all.
        capture = LogCapture()
        monkeypatch.setattr(
            _http,
            "log",
            structlog.wrap_logger(
                None,
                processors=[capture],
                wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
                cache_logger_on_first_use=False,
            ),
        )
        await case.collect(case.ordinary)
        logs = capture.entries
        text = repr(logs)
        national = case.ordinary.removeprefix("+237")
        assert national not in text
        assert "simulator-subscription-key" not in text
        assert "2222" not in text.replace("*", "")  # Orange PIN
        assert any(entry.get("event") == "provider.call" for entry in logs)
        assert "456" in text  # the last 3 digits remain for support
