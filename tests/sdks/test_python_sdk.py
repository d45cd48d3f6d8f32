"""The Python SDK (sdks/python) against the real stack: the calls a shop makes, the failures it
must survive (a dropped answer, the rate limit) and the errors it must understand."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import mboapay
import pytest

from mboa.config import Settings
from mboa.postgres import Database
from tests.helpers import Api
from tests.payouts.helpers import fund
from tests.sdks.helpers import MTN_OK, DroppingProxy, header, receiving

T = TypeVar("T")


async def until(read: Callable[[], Any], done: Callable[[Any], bool], within: float = 60) -> Any:
    """Read (in a thread: the sync client blocks) until `done`, or fail with the last value."""
    deadline = time.monotonic() + within
    while True:
        value = await asyncio.to_thread(read)
        if done(value) or time.monotonic() > deadline:
            assert done(value), value
            return value
        await asyncio.sleep(0.2)


async def test_payment_refund_and_payout_through_the_sync_client(
    api: Api, worker: Settings, db: Database, base_url: str
) -> None:
    account = await api.signup()
    client = mboapay.Client(account.secret_key, base_url=base_url)

    intent = await asyncio.to_thread(
        client.payment_intents.create,
        amount=1500,
        currency="XAF",
        phone=MTN_OK,
        reference="order-42",
        metadata={"order": "42"},
    )
    assert isinstance(intent, mboapay.PaymentIntent)
    assert intent.id.startswith("pi_")
    assert (intent.amount, intent.currency, intent.reference) == (1500, "XAF", "order-42")
    assert intent.metadata == {"order": "42"}
    paid = await until(
        lambda: client.payment_intents.retrieve(intent.id), lambda pi: pi.status == "succeeded"
    )
    assert (paid.amount_received, paid.fee, paid.net) == (1500, 30, 1470)

    refund = await asyncio.to_thread(
        client.refunds.create, payment_intent=intent.id, amount=500, reason="requested_by_customer"
    )
    assert isinstance(refund, mboapay.Refund)
    assert (refund.amount, refund.payment_intent) == (500, intent.id)
    await until(lambda: client.refunds.retrieve(refund.id), lambda r: r.status == "succeeded")
    assert (
        await asyncio.to_thread(client.payment_intents.retrieve, intent.id)
    ).amount_refunded == 500

    # The payout cannot spend the captured payment: its net sits in `pending` until the fee
    # plan's settlement delay (1 day; only `mboa up` shortens it, docs/ledger.md "Settle"), and
    # a payout spends `available` money. So the test settles a collection of its own first.
    available = await fund(db, account.merchant_id, 10_000)
    balance = await asyncio.to_thread(client.balance.retrieve)
    assert sum(a.amount for a in balance.available if a.currency == "XAF") >= available
    payout = await asyncio.to_thread(
        client.payouts.create,
        amount=5000,
        currency="XAF",
        destination={"phone": MTN_OK},
        description="weekly",
    )
    assert isinstance(payout, mboapay.Payout)
    paid_out = await until(lambda: client.payouts.retrieve(payout.id), lambda p: p.status == "paid")
    assert paid_out.amount == 5000

    # What happened is in the events and the balance transactions, through the same iterators.
    types = await asyncio.to_thread(
        lambda: {e.type for e in client.events.list(object_id=intent.id, limit=100)}
    )
    assert {"payment_intent.created", "payment_intent.succeeded"} <= types
    # Pages of two, walked to the end: the payment, its refund, the funding, the payout.
    moved = await asyncio.to_thread(
        lambda: [t.type for t in client.balance_transactions.list(limit=2)]
    )
    assert moved == ["payout", "payment", "refund", "payment"]
    assert [p.id for p in await asyncio.to_thread(lambda: list(client.payouts.list()))] == [
        payout.id
    ]
    client.close()


@dataclasses.dataclass
class Seen:
    at: float
    method: str
    path: str
    status: int
    idempotency_key: str | None
    retry_after: str | None


def recording(seen: list[Seen]) -> httpx.AsyncClient:
    """An httpx client (the SDK accepts one) that notes every attempt it makes."""

    async def note(response: httpx.Response) -> None:
        request = response.request
        seen.append(
            Seen(
                time.monotonic(),
                request.method,
                request.url.path,
                response.status_code,
                request.headers.get("idempotency-key"),
                response.headers.get("retry-after"),
            )
        )

    return httpx.AsyncClient(event_hooks={"response": [note]})


async def test_pagination_walks_250_customers(api: Api, base_url: str) -> None:
    account = await api.signup()
    seen: list[Seen] = []
    async with mboapay.AsyncClient(
        account.secret_key, base_url=base_url, max_retries=8, http_client=recording(seen)
    ) as client:
        # Ten at a time: the API's pool serves a few dozen concurrent writes, and the test-mode
        # rate limit (25/s) makes the SDK wait out a few 429s on the way.
        gate = asyncio.Semaphore(10)

        async def create(i: int) -> mboapay.Customer:
            async with gate:
                return await client.customers.create(name=f"Customer {i}")

        created = await asyncio.gather(*(create(i) for i in range(250)))
        ids = [c.id for c in created]
        assert len(set(ids)) == 250

        seen.clear()
        walked = [c.id async for c in client.customers.list(limit=100)]
        assert sorted(walked) == sorted(ids)
        assert walked == sorted(walked, reverse=True)  # newest first, ULIDs sort by time
        pages = [s for s in seen if s.path == "/v1/customers" and s.status == 200]
        assert len(pages) == 3  # 100 + 100 + 50, each page one request

        # Towards newer objects from an old one, and the synchronous iterator.
        newer = [c.id async for c in client.customers.list(limit=30, ending_before=walked[100])]
        assert sorted(newer) == sorted(walked[:100])
    sync = mboapay.Client(account.secret_key, base_url=base_url)
    assert await asyncio.to_thread(lambda: [c.id for c in sync.customers.list(limit=100)]) == walked
    assert len(await asyncio.to_thread(sync.customers.list(limit=7).first_page)) == 7
    sync.close()


async def test_a_dropped_answer_is_retried_with_the_same_key_and_runs_once(
    api: Api, base_url: str
) -> None:
    account = await api.signup()
    port = urlsplit(base_url).port
    assert port is not None
    async with DroppingProxy(port, drop_first=1) as proxy:
        client = mboapay.AsyncClient(account.secret_key, base_url=proxy.url)
        intent = await client.payment_intents.create(
            amount=2500, currency="XAF", reference="order-dropped"
        )
        customer_proxy = DroppingProxy(port, drop_first=1)
        await client.aclose()
    # Two tries of one call, under one key; the second got the first's stored answer.
    assert len(proxy.requests) == 2
    keys = {header(r, "idempotency-key") for r in proxy.requests}
    assert len(keys) == 1
    assert None not in keys
    direct = mboapay.AsyncClient(account.secret_key, base_url=base_url)
    found = [pi.id async for pi in direct.payment_intents.list(reference="order-dropped")]
    assert found == [intent.id]

    # The same through the synchronous client, on a create that is not on the lean path.
    async with customer_proxy:
        sync = mboapay.Client(account.secret_key, base_url=customer_proxy.url)
        customer = await asyncio.to_thread(sync.customers.create, name="Once", email="o@x.cm")
        sync.close()
    assert len(customer_proxy.requests) == 2
    assert [c.id async for c in direct.customers.list(email="o@x.cm")] == [customer.id]
    await direct.aclose()


async def test_429_is_retried_after_retry_after(api: Api, base_url: str) -> None:
    account = await api.signup()
    seen: list[Seen] = []
    async with mboapay.AsyncClient(
        account.secret_key, base_url=base_url, max_retries=6, http_client=recording(seen)
    ) as client:
        # Ten in flight at a time (more starve one API process's connection pool for its 30 s
        # timeout): still far above 25 requests per second.
        gate = asyncio.Semaphore(10)

        async def create(i: int) -> mboapay.Customer:
            async with gate:
                return await client.customers.create(name=f"Burst {i}")

        created = await asyncio.gather(*(create(i) for i in range(60)))
        assert len({c.id for c in created}) == 60
        assert len([c async for c in client.customers.list(limit=100)]) == 60  # no duplicate

    limited = [s for s in seen if s.status == 429]
    assert limited, "60 requests, ten at a time, must cross the test-mode limit of 25 per second"
    for refused in limited:
        assert refused.retry_after is not None
        later = [
            s for s in seen if s.idempotency_key == refused.idempotency_key and s.at > refused.at
        ]
        assert later, refused
        # The next try waited for Retry-After (whole seconds), minus the event hook's latency.
        assert later[0].at - refused.at >= float(refused.retry_after) - 0.05, (refused, later[0])

    # Without retries, the 429 reaches the caller as a RateLimitError (cheap reads: a missing
    # intent is one indexed lookup on the read path).
    async with mboapay.AsyncClient(account.secret_key, base_url=base_url, max_retries=0) as bare:
        results = await asyncio.gather(
            *(bare.payment_intents.retrieve("pi_missing") for _ in range(40)),
            return_exceptions=True,
        )
    limited_errors = [r for r in results if isinstance(r, mboapay.RateLimitError)]
    assert limited_errors, results
    assert all(isinstance(r, (mboapay.RateLimitError, mboapay.NotFoundError)) for r in results)
    for error in limited_errors:
        assert (error.http_status, error.code, error.type) == (
            429,
            "rate_limit",
            "rate_limit_error",
        )
        assert int(error.headers["retry-after"]) >= 1


async def test_errors_carry_code_param_request_id_and_status(api: Api, base_url: str) -> None:
    account = await api.signup()
    client = mboapay.AsyncClient(account.secret_key, base_url=base_url)

    with pytest.raises(mboapay.InvalidRequestError) as invalid:
        await client.payment_intents.create(amount=50, currency="XAF", phone=MTN_OK)
    assert (invalid.value.http_status, invalid.value.code) == (400, "amount_too_small")
    assert invalid.value.param == "amount"
    assert invalid.value.type == "invalid_request_error"
    assert invalid.value.request_id
    assert invalid.value.request_id.startswith("req_")
    assert invalid.value.doc_url
    assert invalid.value.doc_url.endswith("#amount_too_small")
    assert "amount_too_small" in str(invalid.value)

    with pytest.raises(mboapay.NotFoundError) as missing:
        await client.customers.retrieve("cus_01JD5Z8Q4Y2V6N3K7M9P1R0S2T")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert isinstance(missing.value, mboapay.InvalidRequestError)

    intent = await client.payment_intents.create(amount=1000, currency="XAF")
    await client.payment_intents.cancel(intent.id)
    with pytest.raises(mboapay.ConflictError) as conflict:
        await client.payment_intents.cancel(intent.id)
    assert (conflict.value.http_status, conflict.value.code) == (
        409,
        "payment_intent_unexpected_state",
    )

    await client.customers.create(name="A", idempotency_key="same-key")
    with pytest.raises(mboapay.IdempotencyError) as reused:
        await client.customers.create(name="B", idempotency_key="same-key")
    assert (reused.value.http_status, reused.value.code) == (400, "idempotency_key_reused")

    with pytest.raises(mboapay.AuthenticationError) as unauthenticated:
        await mboapay.AsyncClient("sk_test_nope", base_url=base_url).balance.retrieve()
    assert unauthenticated.value.http_status == 401

    # Nobody listens there: retried, then an APIConnectionError (no HTTP status).
    from mboa.kit.net import free_port

    nowhere = mboapay.AsyncClient(
        account.secret_key, base_url=f"http://127.0.0.1:{free_port()}", max_retries=1
    )
    with pytest.raises(mboapay.APIConnectionError) as unreachable:
        await nowhere.balance.retrieve()
    assert unreachable.value.http_status is None
    await client.aclose()


async def test_webhook_of_a_real_delivery_verifies_and_a_tampered_one_does_not(
    api: Api, worker: Settings, base_url: str
) -> None:
    account = await api.signup()
    client = mboapay.AsyncClient(account.secret_key, base_url=base_url)
    sync_client = mboapay.Client(account.secret_key, base_url=base_url)

    def sync_events(**filters: Any) -> set[str]:
        return {e.type for e in sync_client.events.list(**filters)}

    async with receiving() as (receiver, receiver_url):
        endpoint = await client.webhook_endpoints.create(
            url=f"{receiver_url}/hooks", enabled_events=["payment_intent.succeeded"]
        )
        assert endpoint.secret
        assert endpoint.secret.startswith("whsec_")
        intent = await client.payment_intents.create(amount=1500, currency="XAF", phone=MTN_OK)
        delivery = await receiver.until(lambda d: intent.id.encode() in d.body)

    event = mboapay.webhooks.verify(delivery.body, delivery.headers, endpoint.secret)
    assert isinstance(event, mboapay.webhooks.WebhookEvent)
    assert event.type == "payment_intent.succeeded"
    assert event.id == delivery.headers["webhook-id"]
    assert event.data.object["id"] == intent.id
    # Header names in any case (frameworks differ).
    upper = {k.title(): v for k, v in delivery.headers.items()}
    assert mboapay.webhooks.verify(delivery.body, upper, endpoint.secret).id == event.id

    # The events list filters on delivery: once the delivery succeeded, the intent's events are
    # all delivered (`created` had nothing to deliver).
    delivered = await until(
        lambda: sync_events(delivery_success=True, object_id=intent.id),
        lambda types: "payment_intent.succeeded" in types,
    )
    assert {"payment_intent.created", "payment_intent.succeeded"} <= delivered
    assert (
        await asyncio.to_thread(sync_events, delivery_success=False, object_id=intent.id) == set()
    )

    body = json.loads(delivery.body)
    body["data"]["object"]["amount"] = 1
    tampered = json.dumps(body).encode()
    for payload, headers, secret in [
        (tampered, delivery.headers, endpoint.secret),
        (delivery.body, {**delivery.headers, "webhook-id": "evt_other"}, endpoint.secret),
        (delivery.body, delivery.headers, "whsec_" + "A" * 43 + "="),
        (
            delivery.body,
            {**delivery.headers, "webhook-timestamp": str(int(time.time()) - 3600)},
            endpoint.secret,
        ),
    ]:
        with pytest.raises(mboapay.webhooks.SignatureVerificationError):
            mboapay.webhooks.verify(payload, headers, secret)

    # An endpoint nobody answers at: its event stays undelivered (pending, then failed).
    from mboa.kit.net import free_port

    await client.webhook_endpoints.create(
        url=f"http://127.0.0.1:{free_port()}/hooks", enabled_events=["payment_intent.canceled"]
    )
    unpaid = await client.payment_intents.create(amount=1000, currency="XAF")
    await client.payment_intents.cancel(unpaid.id)
    undelivered = await until(
        lambda: sync_events(delivery_success=False, object_id=unpaid.id), bool
    )
    assert undelivered == {"payment_intent.canceled"}
    assert await asyncio.to_thread(sync_events, delivery_success=True, object_id=unpaid.id) == {
        "payment_intent.created"
    }
    assert [
        e.id async for e in client.events.list(delivery_success=False, object_id=unpaid.id)
    ] == [e.id async for e in client.events.list(type="payment_intent.canceled")]
    await client.aclose()
    sync_client.close()


async def test_event_stream_yields_events_as_they_happen(api: Api, base_url: str) -> None:
    account = await api.signup()
    client = mboapay.AsyncClient(account.secret_key, base_url=base_url)
    stream = client.events.stream(type="payment_intent.*")

    async def first() -> mboapay.Event:
        async for event in stream:
            return event
        raise AssertionError("the stream ended")

    reading = asyncio.create_task(first())
    await asyncio.sleep(0.5)  # the stream is open before the event is written
    intent = await client.payment_intents.create(amount=1000, currency="XAF")
    event = await asyncio.wait_for(reading, 30)
    assert event.type == "payment_intent.created"
    assert event.data.object["id"] == intent.id
    await stream.aclose()  # type: ignore[attr-defined]
    await client.aclose()


async def test_receipt_pdf_through_both_clients(
    api: Api, worker: Settings, db: Database, base_url: str
) -> None:
    account = await api.signup()
    client = mboapay.AsyncClient(account.secret_key, base_url=base_url)
    sync_client = mboapay.Client(account.secret_key, base_url=base_url)
    intent = await client.payment_intents.create(amount=2500, currency="XAF", phone=MTN_OK)
    await until(
        lambda: sync_client.payment_intents.retrieve(intent.id),
        lambda pi: pi.status == "succeeded",
    )

    french = await client.payment_intents.receipt(intent.id)
    assert isinstance(french, bytes)
    assert french.startswith(b"%PDF-")
    assert french.rstrip().endswith(b"%%EOF")
    english = await asyncio.to_thread(sync_client.payment_intents.receipt, intent.id, locale="en")
    assert english.startswith(b"%PDF-")
    assert english != french  # the other language's text
    # The same receipt as the API serves it.
    direct = await api.http.get(
        f"/v1/payment_intents/{intent.id}/receipt",
        params={"locale": "en"},
        headers={"Authorization": f"Bearer {account.secret_key}"},
    )
    assert direct.content == english

    # A payment that has not succeeded has none: the API's error, raised.
    unpaid = await client.payment_intents.create(amount=1000, currency="XAF")
    with pytest.raises(mboapay.ConflictError) as none:
        await client.payment_intents.receipt(unpaid.id)
    assert (none.value.http_status, none.value.code) == (409, "receipt_unavailable")
    with pytest.raises(mboapay.NotFoundError):
        await asyncio.to_thread(
            sync_client.payment_intents.receipt, "pi_01JD5Z8Q4Y2V6N3K7M9P1R0S2T"
        )
    await client.aclose()
    await asyncio.to_thread(sync_client.close)


async def test_payment_link_qr_codes_through_both_clients(api: Api, base_url: str) -> None:
    account = await api.signup()
    client = mboapay.AsyncClient(account.secret_key, base_url=base_url)
    sync_client = mboapay.Client(account.secret_key, base_url=base_url)
    link = await client.payment_links.create(currency="XAF", amount=2000, description="Ndolé")

    svg = await client.payment_links.qr_svg(link.id)
    assert isinstance(svg, bytes)
    assert b"<svg" in svg
    png = await asyncio.to_thread(sync_client.payment_links.qr_png, link.id)
    assert png.startswith(b"\x89PNG")
    # The same images as the API serves.
    auth = {"Authorization": f"Bearer {account.secret_key}"}
    assert (await api.http.get(f"/v1/payment_links/{link.id}/qr.svg", headers=auth)).content == svg
    assert (await api.http.get(f"/v1/payment_links/{link.id}/qr.png", headers=auth)).content == png

    with pytest.raises(mboapay.NotFoundError) as missing:
        await client.payment_links.qr_png("plink_01JD5Z8Q4Y2V6N3K7M9P1R0S2T")
    assert missing.value.http_status == 404
    with pytest.raises(mboapay.NotFoundError):
        await asyncio.to_thread(
            sync_client.payment_links.qr_svg, "plink_01JD5Z8Q4Y2V6N3K7M9P1R0S2T"
        )
    await client.aclose()
    await asyncio.to_thread(sync_client.close)
