"""The Python SDK on answers that are not the API's own JSON (what a proxy or a load balancer in
between writes) and on the retry paths: a 5xx and a 409 `idempotency_key_in_use` retried under
the same Idempotency-Key until the real API answers. The stand-in in front of the API is
tests/sdks/helpers.ScriptedProxy (not one of our components)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import mboapay
import pytest

from tests.helpers import Api
from tests.sdks.helpers import ScriptedProxy, header, http_answer

BAD_GATEWAY_PAGE = b"<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"


def _port(base_url: str) -> int:
    port = urlsplit(base_url).port
    assert port is not None
    return port


async def test_an_html_502_is_a_server_error_retried_after_retry_after() -> None:
    answer = http_answer(502, BAD_GATEWAY_PAGE, "text/html", retry_after="1")
    async with ScriptedProxy([answer] * 3) as proxy:
        client = mboapay.AsyncClient("sk_test_x", base_url=proxy.url, max_retries=2)
        with pytest.raises(mboapay.ServerError) as failed:
            await client.balance.retrieve()
        await client.aclose()
    assert failed.value.http_status == 502
    assert failed.value.code is None
    assert failed.value.body == BAD_GATEWAY_PAGE.decode()
    assert len(proxy.requests) == 3  # the first try and two retries
    gaps = [b - a for a, b in zip(proxy.arrivals, proxy.arrivals[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), gaps


async def test_a_plain_text_404_is_not_found_and_not_retried() -> None:
    async with ScriptedProxy([http_answer(404, b"404 page not found")]) as proxy:
        client = mboapay.Client("sk_test_x", base_url=proxy.url, max_retries=2)
        with pytest.raises(mboapay.NotFoundError) as missing:
            await asyncio.to_thread(client.customers.retrieve, "cus_x")
        client.close()
    assert (missing.value.http_status, missing.value.code) == (404, None)
    assert len(proxy.requests) == 1


async def test_a_success_that_is_not_json_is_an_api_error_not_retried() -> None:
    page = b"<html>Welcome to the hotel Wi-Fi</html>"
    async with ScriptedProxy([http_answer(200, page, "text/html")]) as proxy:
        client = mboapay.AsyncClient("sk_test_x", base_url=proxy.url, max_retries=2)
        with pytest.raises(mboapay.APIError) as wrong:
            await client.customers.create(name="Portal")
        await client.aclose()
    assert type(wrong.value) is mboapay.APIError
    assert wrong.value.http_status == 200
    assert wrong.value.body == page.decode()
    assert len(proxy.requests) == 1  # the call may have run: not repeated


async def test_a_503_is_retried_under_the_same_key_and_runs_once(api: Api, base_url: str) -> None:
    account = await api.signup()
    down = http_answer(503, b"Service Unavailable")  # no Retry-After: the SDK's own backoff
    async with ScriptedProxy([down], _port(base_url)) as proxy:
        client = mboapay.AsyncClient(account.secret_key, base_url=proxy.url)
        intent = await client.payment_intents.create(
            amount=1200, currency="XAF", reference="order-503"
        )
        await client.aclose()
    assert len(proxy.requests) == 2
    keys = {header(r, "idempotency-key") for r in proxy.requests}
    assert len(keys) == 1
    assert None not in keys
    async with mboapay.AsyncClient(account.secret_key, base_url=base_url) as direct:
        found = [pi.id async for pi in direct.payment_intents.list(reference="order-503")]
    assert found == [intent.id]


async def test_a_409_idempotency_key_in_use_is_retried_until_the_api_answers(
    api: Api, base_url: str
) -> None:
    """What the API answers while a request with the same key is still running
    (docs/api-conventions.md §D4)."""
    account = await api.signup()
    in_use = http_answer(
        409,
        json.dumps(
            {
                "error": {
                    "type": "idempotency_error",
                    "code": "idempotency_key_in_use",
                    "message": "A request with this Idempotency-Key is still being processed.",
                }
            }
        ).encode(),
        "application/json",
    )
    async with ScriptedProxy([in_use, in_use], _port(base_url)) as proxy:
        client = mboapay.Client(account.secret_key, base_url=proxy.url)
        customer = await asyncio.to_thread(
            client.customers.create, name="Once", email="in-use@x.cm", idempotency_key="order-7"
        )
        client.close()
    assert len(proxy.requests) == 3
    assert {header(r, "idempotency-key") for r in proxy.requests} == {"order-7"}
    async with mboapay.AsyncClient(account.secret_key, base_url=base_url) as direct:
        found = [c.id async for c in direct.customers.list(email="in-use@x.cm")]
    assert found == [customer.id]

    # Any other 409 is the object's state: raised at once, never retried.
    conflict = http_answer(
        409,
        b'{"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state",'
        b' "message": "no"}}',
        "application/json",
    )
    async with ScriptedProxy([conflict]) as proxy:
        client = mboapay.Client(account.secret_key, base_url=proxy.url)
        with pytest.raises(mboapay.ConflictError) as refused:
            await asyncio.to_thread(client.payment_intents.cancel, "pi_x")
        client.close()
    assert refused.value.code == "payment_intent_unexpected_state"
    assert len(proxy.requests) == 1


async def test_an_enum_value_the_sdk_does_not_know_is_kept_as_a_string(
    api: Api, base_url: str
) -> None:
    """The API may add a status or a next action (docs/api-conventions.md §D13); an SDK built
    before must still parse the object (its models take any string where the API documents an
    enum)."""
    account = await api.signup()
    async with mboapay.AsyncClient(account.secret_key, base_url=base_url) as client:
        intent = await client.payment_intents.create(amount=1000, currency="XAF")
    raw = (
        await api.http.get(
            f"/v1/payment_intents/{intent.id}",
            headers={"Authorization": f"Bearer {account.secret_key}"},
        )
    ).json()
    raw["status"] = "requires_capture"
    raw["cancellation_reason"] = "merchant_timeout"
    raw["next_action"] = {
        "type": "redirect_to_app",
        "url": "https://pay.example.cm/app",
        "app": {"package": "cm.mtn.momo"},
    }
    answer = http_answer(200, json.dumps(raw).encode(), "application/json")
    async with ScriptedProxy([answer]) as proxy:
        client = mboapay.AsyncClient(account.secret_key, base_url=proxy.url)
        newer = await client.payment_intents.retrieve(intent.id)
        await client.aclose()
    assert isinstance(newer, mboapay.PaymentIntent)
    assert newer.status == "requires_capture"
    assert newer.next_action is not None
    assert newer.next_action.type == "redirect_to_app"
    assert newer.next_action.model_extra == {"app": {"package": "cm.mtn.momo"}}
    assert newer.cancellation_reason == "merchant_timeout"
    # The known values parse as before.
    assert mboapay.PaymentIntent.model_validate({**raw, "status": "succeeded"}).status == (
        "succeeded"
    )
