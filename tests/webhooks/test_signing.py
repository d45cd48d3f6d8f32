"""Our Standard Webhooks headers verify with the official `standardwebhooks` library."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mboa.webhooks import signing


def test_a_signed_body_verifies_with_the_official_library() -> None:
    secret = signing.new_secret()
    body = b'{"id":"evt_1","type":"payment_intent.succeeded","amount":1500,"note":"\xc3\xa9"}'
    headers = signing.headers([secret], msg_id="evt_1", timestamp=int(time.time()), body=body)
    assert Webhook(secret).verify(body, headers)["amount"] == 1500


def test_during_a_roll_either_secret_verifies() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    body = b'{"id":"evt_2"}'
    headers = signing.headers([new, old], msg_id="evt_2", timestamp=int(time.time()), body=body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_a_changed_body_id_or_timestamp_fails_verification() -> None:
    secret = signing.new_secret()
    now = int(time.time())
    headers = signing.headers([secret], msg_id="evt_3", timestamp=now, body=b"{}")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b"{ }", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b"{}", {**headers, "webhook-id": "evt_4"})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b"{}", {**headers, "webhook-timestamp": str(now + 1)})


def test_secrets_are_32_random_bytes_and_need_a_signer() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_")
    assert first != second
    assert len(signing.secret_key(first)) == 32
    with pytest.raises(ValueError, match="at least one"):
        signing.headers([], msg_id="evt", timestamp=0, body=b"")
