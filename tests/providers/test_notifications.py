"""Callback parsing into neutral hints, for bodies the simulators do not produce."""

from __future__ import annotations

import orjson
import pytest

from mboa.providers import ProviderName
from mboa.providers.errors import InvalidNotification
from mboa.providers.mtn_momo.webhooks import parse_callback
from mboa.providers.orange_money.webhooks import parse_notification, verify_token
from mboa.providers.types import FailureCode, TransactionStatus


def body(data: object) -> bytes:
    return orjson.dumps(data)


class TestMtn:
    def test_reason_as_string(self) -> None:
        note = parse_callback(
            body(
                {
                    "externalId": "att_1",
                    "amount": "1500",
                    "currency": "XAF",
                    "status": "FAILED",
                    "reason": "APPROVAL_REJECTED",
                }
            ),
            our_id="att_1",
        )
        assert note.provider is ProviderName.mtn_momo
        assert note.status is TransactionStatus.failed
        assert note.failure_code is FailureCode.declined
        assert note.raw_reason == "APPROVAL_REJECTED"
        assert note.amount == 1500
        assert note.reference is None

    def test_reason_as_object(self) -> None:
        note = parse_callback(
            body({"status": "FAILED", "reason": {"code": "NOT_ENOUGH_FUNDS", "message": "x"}})
        )
        assert note.failure_code is FailureCode.insufficient_funds

    def test_minimal_callback_is_still_a_hint(self) -> None:
        note = parse_callback(body({"status": "SUCCESSFUL"}), our_id="att_2")
        assert note.status is TransactionStatus.succeeded
        assert note.our_id == "att_2"
        assert note.amount is None

    def test_unknown_status_is_pending(self) -> None:
        assert parse_callback(body({"status": "WEIRD"})).status is TransactionStatus.pending

    @pytest.mark.parametrize("raw", [b"", b"[1, 2]", b"\xff\xfe", b'{"status": 5}'])
    def test_unreadable_bodies(self, raw: bytes) -> None:
        with pytest.raises(InvalidNotification):
            parse_callback(raw)

    def test_dedupe_key(self) -> None:
        payload = body({"status": "SUCCESSFUL", "financialTransactionId": "123"})
        assert (
            parse_callback(payload, our_id="a").dedupe_key
            == parse_callback(payload, our_id="a").dedupe_key
        )
        assert (
            parse_callback(payload, our_id="a").dedupe_key
            != parse_callback(payload, our_id="b").dedupe_key
        )


class TestOrange:
    def test_flat_mp_notification(self) -> None:
        note = parse_notification(
            body(
                {
                    "payToken": "MP1",
                    "status": "SUCCESSFULL",
                    "txnid": "MP1.2.3",
                    "orderId": "o1",
                    "amount": 1500,
                }
            ),
            our_id="att_3",
        )
        assert note.status is TransactionStatus.succeeded
        assert note.reference == "MP1"
        assert note.external_id == "o1"
        assert note.amount == 1500

    def test_wrapped_in_data(self) -> None:
        note = parse_notification(
            body(
                {
                    "message": "x",
                    "data": {"payToken": "MP2", "status": "FAILED", "inittxnstatus": "60019"},
                }
            )
        )
        assert note.reference == "MP2"
        assert note.failure_code is FailureCode.insufficient_funds

    def test_form_encoded(self) -> None:
        note = parse_notification(b"status=SUCCESS&notif_token=abc&txnid=MP9")
        assert note.status is TransactionStatus.succeeded
        assert note.notification_token == "abc"
        verify_token(note, "abc")
        with pytest.raises(InvalidNotification):
            verify_token(note, "abd")

    def test_missing_token_fails_when_one_is_expected(self) -> None:
        note = parse_notification(body({"status": "SUCCESS"}))
        verify_token(note, None)
        with pytest.raises(InvalidNotification):
            verify_token(note, "expected")
