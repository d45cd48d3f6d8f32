"""Inbound operator callbacks: the real API on a socket, the real simulators calling it, the
confirmation task reading the simulators' status (docs/providers-wire.md §1.9, §2.1, §2.2)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from mboa.config import RateLimitSettings, Settings
from mboa.kit.net import free_port
from mboa.models import CallbackResult, CallbackVerification
from mboa.postgres import Database
from mboa.provider_events import service
from mboa.provider_events.exceptions import RetryLater
from mboa.provider_events.service import CONFIRM_TASK
from mboa.provider_events.tasks import ATTEMPTS, confirm_callback
from mboa.providers import ProviderName
from mboa.providers.config import ProvidersSettings
from mboa.providers.mtn_momo import MtnMomoSettings
from mboa.providers.registry import ProviderRegistry
from mboa.providers.types import (
    CollectionRequest,
    DisbursementRequest,
    Product,
    TransactionRef,
    TransactionStatus,
)
from mboa.simulator.run import RunningSimulators
from mboa.tasks import load_tasks
from mboa.worker import TaskContext
from tests.conftest import make_settings, other_api
from tests.helpers import assert_error
from tests.providers.conftest import RESILIENCE, eventually, mtn_settings, orange_settings

MTN_OK = "+237670000000"
MTN_INSUFFICIENT = "+237670000001"
MTN_PENDING_FOREVER = "+237670000004"
MTN_CALLBACK_TWICE = "+237670000007"
ORANGE_OK = "+237690000000"
JSON = {"content-type": "application/json"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sim_providers(sims: RunningSimulators) -> AsyncIterator[ProviderRegistry]:
    """The adapters of a worker whose settings point at the simulators."""
    registry = ProviderRegistry(
        ProvidersSettings(mtn_momo=mtn_settings(sims), orange_money=orange_settings(sims))
    )
    yield registry
    await registry.aclose()


def path(provider: str, attempt_id: str) -> str:
    return f"/v1/providers/{provider}/callback/{attempt_id}"


def mtn_body(
    status: str = "SUCCESSFUL", *, reference: str | None = None, external_id: str = "att_1"
) -> bytes:
    """The status resource MTN posts to X-Callback-Url, usually without referenceId (§1.9)."""
    body: dict[str, Any] = {
        "financialTransactionId": "1786493218",
        "externalId": external_id,
        "amount": "1500",
        "currency": "XAF",
        "payer": {"partyIdType": "MSISDN", "partyId": "237670123456"},
        "payerMessage": "Order 42",
        "payeeNote": "Order 42",
        "status": status,
    }
    if reference is not None:
        body["referenceId"] = reference
    return orjson.dumps(body)


async def events(owner: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await owner.fetch("SELECT * FROM provider_events ORDER BY received_at, id"))


async def jobs(owner: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await owner.fetch("SELECT task, queue, payload, job_id FROM outbox ORDER BY id"))


async def only_event(owner: asyncpg.Connection) -> asyncpg.Record:
    rows = await events(owner)
    assert len(rows) == 1, rows
    return rows[0]


def payload_of(job: asyncpg.Record) -> dict[str, Any]:
    value = job["payload"]
    return dict(orjson.loads(value) if isinstance(value, str) else value)


async def send(
    http: httpx.AsyncClient, provider: str, attempt_id: str, body: bytes, method: str = "PUT"
) -> httpx.Response:
    response = await http.request(method, path(provider, attempt_id), content=body, headers=JSON)
    return response


def assert_received(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True}


async def confirm(
    providers: ProviderRegistry, db: Database, event_id: str, *, attempt: int = 1
) -> Any:
    """Run the task as the worker does, with a worker's registry (`TaskContext.providers`)."""
    context = TaskContext(
        make_settings(providers=providers.settings), db, attempt=attempt, providers=providers
    )
    return await confirm_callback(context, {"event_id": event_id})


# -- receipt ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("with_reference", [False, True], ids=["no_reference", "reference"])
async def test_mtn_callback_is_stored_and_one_confirmation_enqueued(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection, method: str, with_reference: bool
) -> None:
    reference = str(uuid.uuid4()) if with_reference else None
    body = mtn_body(reference=reference)
    response = await send(http, "mtn_momo", "att_01JDCALLBACK", body, method)
    assert_received(response)

    event = await only_event(owner_connection)
    assert event["id"].startswith("pev_")
    assert event["provider"] == "mtn_momo"
    assert event["attempt_id"] == "att_01JDCALLBACK"
    assert event["http_method"] == method
    assert event["operator_reference"] == reference
    assert event["operator_transaction_id"] == "1786493218"
    assert event["claimed_status"] == "succeeded"
    assert event["raw_status"] == "SUCCESSFUL"
    assert event["verification"] == CallbackVerification.not_applicable
    assert bytes(event["body"]) == body
    assert not event["body_truncated"]
    headers = orjson.loads(event["headers"])
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    assert event["client_address"] == "127.0.0.1"
    assert event["duplicate_count"] == 0
    assert event["processed_at"] is None
    assert event["result"] is None

    (job,) = await jobs(owner_connection)
    assert job["task"] == CONFIRM_TASK
    # The row names the task only; the relay sends it to the task's queue.
    assert job["queue"] == ""
    assert load_tasks()[job["task"]].queue == "providers"
    assert job["job_id"] == f"{CONFIRM_TASK}:{event['id']}"
    assert payload_of(job) == {"event_id": event["id"]}


async def test_a_query_string_the_operator_adds_is_accepted(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection
) -> None:
    # Merchant routes refuse unknown query parameters; operators' callbacks must not be refused.
    url = path("mtn_momo", "att_01JDQUERY") + "?notif=1&lang=fr"
    assert_received(await http.put(url, content=mtn_body(), headers=JSON))
    assert (await only_event(owner_connection))["attempt_id"] == "att_01JDQUERY"


async def test_duplicate_delivery_is_stored_once_and_enqueues_one_job(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection
) -> None:
    body = mtn_body()
    for method in ("PUT", "POST", "PUT"):
        assert_received(await send(http, "mtn_momo", "att_dup", body, method))
    event = await only_event(owner_connection)
    assert event["duplicate_count"] == 2
    assert event["last_seen_at"] >= event["received_at"]
    assert len(await jobs(owner_connection)) == 1

    # Another final state is another callback.
    assert_received(await send(http, "mtn_momo", "att_dup", mtn_body("FAILED")))
    assert len(await events(owner_connection)) == 2
    assert len(await jobs(owner_connection)) == 2


async def test_the_same_body_on_other_attempt_paths_costs_no_other_status_read(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection
) -> None:
    """A real body names its own attempt (`externalId`): the same body sent to other paths is a
    replay, and must not make the worker read the operator's status again (issue 12 finding 5)."""
    body = mtn_body(reference=str(uuid.uuid4()))
    for i in range(5):
        assert_received(await send(http, "mtn_momo", f"att_forged_{i}", body))
    garbage = b"{not json"
    for i in range(3):
        assert_received(await send(http, "mtn_momo", f"att_junk_{i}", garbage))
    rows = await events(owner_connection)
    assert [(r["attempt_id"], r["duplicate_count"]) for r in rows] == [
        ("att_forged_0", 4),
        ("att_junk_0", 2),
    ]
    assert len(await jobs(owner_connection)) == 1


async def test_simulator_callbacks_reach_the_endpoint_and_duplicates_collapse(
    http: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    sim_providers: ProviderRegistry,
    db: Database,
) -> None:
    """MTN's own callback (PUT, no referenceId) for an ordinary success, and code 07 (callback
    sent twice), sent by the simulator to the real endpoint."""
    mtn = sim_providers.get(ProviderName.mtn_momo)
    base = str(http.base_url).rstrip("/")
    for our_id, phone in (("att_sim_ok", MTN_OK), ("att_sim_twice", MTN_CALLBACK_TWICE)):
        await mtn.collect(
            CollectionRequest(
                external_id=our_id,
                amount=1500,
                currency="XAF",
                phone=phone,
                reference=await mtn.reserve_reference(Product.collection),
                callback_url=f"{base}{path('mtn_momo', our_id)}",
            )
        )

    async def both_arrived() -> bool:
        rows = {r["attempt_id"]: r for r in await events(owner_connection)}
        twice = rows.get("att_sim_twice")
        return "att_sim_ok" in rows and twice is not None and twice["duplicate_count"] == 1

    assert await eventually(both_arrived, within=5.0)
    rows = {r["attempt_id"]: r for r in await events(owner_connection)}
    assert len(rows) == 2
    for row in rows.values():
        assert row["http_method"] == "PUT"
        assert row["claimed_status"] == "succeeded"
        # MTN does not send the reference (§1.9): nothing to read the status with yet.
        assert row["operator_reference"] is None
    assert rows["att_sim_ok"]["duplicate_count"] == 0
    assert len(await jobs(owner_connection)) == 2
    assert [c.status_code for c in sims.mtn.callbacks] == [200, 200, 200]

    event_id = rows["att_sim_ok"]["id"]
    assert await confirm(sim_providers, db, event_id) == CallbackResult.no_reference
    row = await owner_connection.fetchrow("SELECT * FROM provider_events WHERE id = $1", event_id)
    assert row["processed_at"] is not None
    assert row["confirmed_status"] is None


async def test_simulator_callback_by_post(
    http: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    sim_providers: ProviderRegistry,
) -> None:
    sims.mtn.settings = sims.mtn.settings.model_copy(update={"callback_method": "POST"})
    mtn = sim_providers.get(ProviderName.mtn_momo)
    base = str(http.base_url).rstrip("/")
    await mtn.disburse(
        DisbursementRequest(
            external_id="po_sim_post",
            amount=2500,
            currency="XAF",
            phone=MTN_OK,
            reference=await mtn.reserve_reference(Product.disbursement),
            callback_url=f"{base}{path('mtn_momo', 'po_sim_post')}",
        )
    )

    async def arrived() -> bool:
        return len(await events(owner_connection)) == 1

    assert await eventually(arrived, within=5.0)
    event = await only_event(owner_connection)
    assert event["http_method"] == "POST"
    assert event["attempt_id"] == "po_sim_post"
    assert orjson.loads(bytes(event["body"]))["payee"]["partyId"] == "237670000000"


async def test_orange_notification_end_to_end(
    http: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    sim_providers: ProviderRegistry,
    db: Database,
) -> None:
    """Orange POSTs its omcoreapis notification (payToken, status…) and the task confirms it with
    `mp/paymentstatus`; a cash-in's payToken is found under `cashin/paymentstatus`."""
    orange = sim_providers.get(ProviderName.orange_money)
    base = str(http.base_url).rstrip("/")
    pay_token = await orange.reserve_reference(Product.collection)
    await orange.collect(
        CollectionRequest(
            external_id="att_om",
            amount=1500,
            currency="XAF",
            phone=ORANGE_OK,
            reference=pay_token,
            callback_url=f"{base}{path('orange_money', 'att_om')}",
        )
    )
    cashin_token = await orange.reserve_reference(Product.disbursement)
    await orange.disburse(
        DisbursementRequest(
            external_id="po_om",
            amount=3000,
            currency="XAF",
            phone=ORANGE_OK,
            reference=cashin_token,
            callback_url=f"{base}{path('orange_money', 'po_om')}",
        )
    )

    async def arrived() -> bool:
        return len(await events(owner_connection)) == 2

    assert await eventually(arrived, within=5.0)
    rows = {r["attempt_id"]: r for r in await events(owner_connection)}
    collection, payout = rows["att_om"], rows["po_om"]
    assert collection["http_method"] == "POST"
    assert collection["operator_reference"] == pay_token
    assert collection["raw_status"] == "SUCCESSFULL"  # sic (§2.2)
    assert collection["claimed_status"] == "succeeded"
    assert collection["verification"] == CallbackVerification.not_applicable
    assert payout["operator_reference"] == cashin_token
    assert len(await jobs(owner_connection)) == 2

    assert await confirm(sim_providers, db, collection["id"]) == CallbackResult.confirmed
    assert await confirm(sim_providers, db, payout["id"]) == CallbackResult.confirmed
    rows = {r["attempt_id"]: r for r in await events(owner_connection)}
    assert rows["att_om"]["confirmed_status"] == "succeeded"
    assert orjson.loads(rows["att_om"]["result_detail"])["product"] == "collection"
    payout_detail = orjson.loads(rows["po_om"]["result_detail"])
    assert rows["po_om"]["confirmed_status"] == "succeeded"
    assert payout_detail["product"] == "disbursement"
    assert payout_detail["amount"] == 3000


async def test_webpay_notification_token_is_recorded_unchecked(
    http: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
    sim_providers: ProviderRegistry,
    db: Database,
) -> None:
    """WebPay's notification carries `notif_token` (§2.1); without a payment attempt to hold the
    expected one, the check is recorded as not done, and no pay_token means nothing to read."""
    body = orjson.dumps(
        {"status": "SUCCESS", "notif_token": "b7c1d9e2", "txnid": "MP261127.1012.A12345"}
    )
    assert_received(await send(http, "orange_money", "att_wp", body, "POST"))
    event = await only_event(owner_connection)
    assert event["verification"] == CallbackVerification.unchecked
    assert event["claimed_status"] == "succeeded"
    assert await confirm(sim_providers, db, event["id"]) == CallbackResult.no_reference


async def test_notif_token_checked_when_expected_token_is_known(
    owner_connection: asyncpg.Connection,
    http: httpx.AsyncClient,
    sim_providers: ProviderRegistry,
    db: Database,
) -> None:
    orange = service.provider_for(sim_providers, "orange_money")
    body = orjson.dumps({"status": "SUCCESS", "notif_token": "right-token", "txnid": "MP1"})
    received: dict[str, service.Received] = {}
    for attempt_id, expected in (("att_good", "right-token"), ("att_bad", "other-token")):
        async with db.platform_transaction() as session:
            received[attempt_id] = await service.receive(
                session,
                orange,
                attempt_id=attempt_id,
                body=body,
                method="POST",
                headers={"content-type": "application/json", "authorization": "Bearer x"},
                client="127.0.0.1",
                expected_token=expected,
            )
    assert received["att_good"].verification is CallbackVerification.passed
    assert received["att_good"].enqueued
    assert received["att_bad"].verification is CallbackVerification.failed
    assert not received["att_bad"].enqueued
    rows = {r["attempt_id"]: r for r in await events(owner_connection)}
    assert rows["att_bad"]["result"] == CallbackResult.token_mismatch
    assert rows["att_bad"]["processed_at"] is not None
    assert "authorization" not in orjson.loads(rows["att_good"]["headers"])
    assert [payload_of(j)["event_id"] for j in await jobs(owner_connection)] == [
        rows["att_good"]["id"]
    ]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2, 3]", b"", b'{"status": {"nested": true}}'],
    ids=["invalid_json", "not_an_object", "empty", "wrong_types"],
)
async def test_malformed_body_is_kept_as_unparseable_and_answered_200(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection, body: bytes
) -> None:
    for _ in range(2):
        assert_received(await send(http, "mtn_momo", "att_bad_body", body, "POST"))
    event = await only_event(owner_connection)
    assert event["result"] == CallbackResult.unparseable
    assert event["parse_error"]
    assert event["processed_at"] is not None
    assert event["claimed_status"] is None
    assert bytes(event["body"]) == body
    assert event["duplicate_count"] == 1
    assert await jobs(owner_connection) == []


async def test_oversized_body_is_truncated_and_not_parsed(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection
) -> None:
    body = orjson.dumps({"status": "SUCCESSFUL", "payerMessage": "x" * 70_000})
    assert_received(await send(http, "mtn_momo", "att_big", body))
    event = await only_event(owner_connection)
    assert event["body_truncated"]
    assert len(bytes(event["body"])) == service.MAX_STORED_BODY
    assert event["result"] == CallbackResult.unparseable
    assert await jobs(owner_connection) == []


async def test_unknown_provider_and_bad_requests(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection
) -> None:
    response = await send(http, "nexttel", "att_1", mtn_body())
    assert_error(response, 404, code="resource_missing", param="provider")
    response = await http.get(path("mtn_momo", "att_1"))
    assert_error(response, 405)
    response = await send(http, "mtn_momo", "a" * 101, mtn_body())
    assert_error(response, 400, param="attempt_id")
    assert await events(owner_connection) == []


def refused(provider: str, reason: str) -> float:
    labels = {"provider": provider, "reason": reason}
    return REGISTRY.get_sample_value("mboa_provider_callbacks_refused_total", labels) or 0.0


LimitedApi = Callable[
    ..., contextlib.AbstractAsyncContextManager[Callable[[str], httpx.AsyncClient]]
]


@pytest.fixture
def limited_api(settings: Settings, database_url: str, redis_url: str, clean: None) -> LimitedApi:
    """`limited_api(**RateLimitSettings)`: an API with these callback limits, and clients sending
    from chosen loopback addresses (`client("127.0.0.2")`)."""

    @contextlib.asynccontextmanager
    async def start(**limits: int) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
        limited = settings.model_copy(update={"rate_limit": RateLimitSettings(**limits)})
        async with other_api(limited, database_url, redis_url) as (state, client):
            await state.redis.flushdb()
            async with contextlib.AsyncExitStack() as stack:

                async def from_address(address: str) -> httpx.AsyncClient:
                    transport = httpx.AsyncHTTPTransport(local_address=address)
                    return await stack.enter_async_context(
                        httpx.AsyncClient(base_url=client.base_url, transport=transport)
                    )

                clients = {a: await from_address(a) for a in ("127.0.0.1", "127.0.0.2")}
                yield clients.__getitem__

    return start


def assert_refused(response: httpx.Response) -> None:
    assert_error(response, 429, code="rate_limit")
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_callbacks_are_rate_limited_per_address(
    limited_api: LimitedApi, owner_connection: asyncpg.Connection
) -> None:
    async with limited_api(callback_per_minute=3) as client:
        before = refused("mtn_momo", "address_rate")
        for i in range(3):
            assert_received(
                await send(
                    client("127.0.0.1"), "mtn_momo", f"att_a{i}", mtn_body(external_id=f"att_a{i}")
                )
            )
        response = await send(
            client("127.0.0.1"), "mtn_momo", "att_a3", mtn_body(external_id="att_a3")
        )
        assert_refused(response)
        assert refused("mtn_momo", "address_rate") == before + 1
        # Another address has its own bucket.
        assert_received(
            await send(client("127.0.0.2"), "mtn_momo", "att_b0", mtn_body(external_id="att_b0"))
        )
    stored = {r["attempt_id"]: r["client_address"] for r in await events(owner_connection)}
    assert stored == {"att_a0": "127.0.0.1", "att_a1": "127.0.0.1", "att_a2": "127.0.0.1"} | {
        "att_b0": "127.0.0.2"
    }


async def test_a_provider_cap_holds_across_addresses(
    limited_api: LimitedApi, owner_connection: asyncpg.Connection
) -> None:
    async with limited_api(
        callback_per_minute=100,
        callback_per_provider_per_minute=3,
    ) as client:
        before = refused("mtn_momo", "provider_rate")
        for i, address in enumerate(("127.0.0.1", "127.0.0.2", "127.0.0.1")):
            assert_received(
                await send(
                    client(address), "mtn_momo", f"att_p{i}", mtn_body(external_id=f"att_p{i}")
                )
            )
        assert_refused(
            await send(client("127.0.0.2"), "mtn_momo", "att_p3", mtn_body(external_id="att_p3"))
        )
        assert refused("mtn_momo", "provider_rate") == before + 1
        # The other operator has its own cap.
        assert_received(await send(client("127.0.0.2"), "orange_money", "att_o", b"{}", "POST"))
    assert len(await events(owner_connection)) == 4


async def test_stored_bytes_are_capped_per_provider(
    limited_api: LimitedApi, owner_connection: asyncpg.Connection
) -> None:
    """Beyond the cap a callback is refused and not stored, until the minute ends; an oversized
    body counts the 64 KB its row would keep."""
    async with limited_api(callback_bytes_per_provider_per_minute=100_000) as client:
        before = refused("mtn_momo", "provider_bytes")
        small = mtn_body(external_id="att_small")
        assert_received(await send(client("127.0.0.1"), "mtn_momo", "att_small", small))
        big = orjson.dumps({"status": "SUCCESSFUL", "payerMessage": "x" * 70_000})
        assert_received(await send(client("127.0.0.1"), "mtn_momo", "att_big_1", big))
        assert_refused(await send(client("127.0.0.2"), "mtn_momo", "att_big_2", big))
        assert refused("mtn_momo", "provider_bytes") == before + 1
    rows = await events(owner_connection)
    assert [r["attempt_id"] for r in rows] == ["att_small", "att_big_1"]


async def test_the_api_parses_with_its_own_adapters_and_closes_them_when_it_stops(
    settings: Settings, database_url: str, redis_url: str, clean: None
) -> None:
    async with other_api(settings, database_url, redis_url) as (state, client):
        assert_received(await send(client, "mtn_momo", "att_api_pool", mtn_body()))
        adapter = state.providers.get(ProviderName.mtn_momo)
        assert adapter is state.providers.get(ProviderName.mtn_momo)  # built once, kept
        pool = adapter.client.http.client  # type: ignore[attr-defined]
        assert not pool.is_closed
    assert pool.is_closed


# -- confirmation ----------------------------------------------------------------------------------


async def _stored_callback(
    http: httpx.AsyncClient, owner: asyncpg.Connection, attempt_id: str, body: bytes
) -> asyncpg.Record:
    assert_received(await send(http, "mtn_momo", attempt_id, body))
    row = await owner.fetchrow("SELECT * FROM provider_events WHERE attempt_id = $1", attempt_id)
    assert row is not None
    return row


async def test_confirmation_records_the_operators_status_not_the_callbacks_claim(
    http: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    sim_providers: ProviderRegistry,
    db: Database,
) -> None:
    """A callback claiming SUCCESSFUL for a transaction the operator holds as PENDING, or as
    FAILED, ends recorded with the operator's status (never trust an unsigned callback, §1.9)."""
    mtn = sim_providers.get(ProviderName.mtn_momo)
    references = {}
    for our_id, phone in (("att_pending", MTN_PENDING_FOREVER), ("att_failed", MTN_INSUFFICIENT)):
        reference = await mtn.reserve_reference(Product.collection)
        await mtn.collect(
            CollectionRequest(
                external_id=our_id, amount=1500, currency="XAF", phone=phone, reference=reference
            )
        )
        references[our_id] = reference

    async def failed_at_operator() -> bool:
        ref = TransactionRef(
            provider=ProviderName.mtn_momo,
            product=Product.collection,
            reference=references["att_failed"],
        )
        return (await mtn.collection_status(ref)).status is TransactionStatus.failed

    assert await eventually(failed_at_operator)

    for our_id, expected in (("att_pending", "pending"), ("att_failed", "failed")):
        body = mtn_body("SUCCESSFUL", reference=references[our_id], external_id=our_id)
        event = await _stored_callback(http, owner_connection, our_id, body)
        assert event["claimed_status"] == "succeeded"
        assert await confirm(sim_providers, db, event["id"]) == CallbackResult.confirmed
        row = await owner_connection.fetchrow(
            "SELECT * FROM provider_events WHERE id = $1", event["id"]
        )
        assert row["confirmed_status"] == expected
        assert row["claimed_status"] == "succeeded"
        detail = orjson.loads(row["result_detail"])
        assert detail["claim_matched"] is False
        assert detail["reference"] == references[our_id]
        assert detail["product"] == "collection"
        assert row["processed_at"] is not None
    failed = await owner_connection.fetchrow(
        "SELECT result_detail FROM provider_events WHERE attempt_id = 'att_failed'"
    )
    failed_detail = orjson.loads(failed["result_detail"])
    assert failed_detail["failure_code"] == "insufficient_funds"
    assert failed_detail["raw_status"] == "FAILED"


async def test_confirmation_of_a_transfer_and_idempotence(
    http: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    sim_providers: ProviderRegistry,
    db: Database,
) -> None:
    mtn = sim_providers.get(ProviderName.mtn_momo)
    reference = await mtn.reserve_reference(Product.disbursement)
    await mtn.disburse(
        DisbursementRequest(
            external_id="po_1", amount=5000, currency="XAF", phone=MTN_OK, reference=reference
        )
    )
    body = orjson.dumps(
        {
            "referenceId": reference,
            "externalId": "po_1",
            "amount": "5000",
            "currency": "XAF",
            "payee": {"partyIdType": "MSISDN", "partyId": "237670000000"},
            "status": "PENDING",
        }
    )
    event = await _stored_callback(http, owner_connection, "po_1", body)
    assert await confirm(sim_providers, db, event["id"]) == CallbackResult.confirmed
    row = await owner_connection.fetchrow(
        "SELECT * FROM provider_events WHERE id = $1", event["id"]
    )
    detail = orjson.loads(row["result_detail"])
    assert detail["product"] == "disbursement"
    assert detail["amount"] == 5000
    first_processed = row["processed_at"]

    # A re-delivered job reads nothing and changes nothing.
    reads_before = len(sims.mtn.requests)
    assert await confirm(sim_providers, db, event["id"]) == CallbackResult.confirmed
    assert len(sims.mtn.requests) == reads_before
    again = await owner_connection.fetchrow(
        "SELECT processed_at, result_detail FROM provider_events WHERE id = $1", event["id"]
    )
    assert again["processed_at"] == first_processed
    assert again["result_detail"] == row["result_detail"]
    assert await confirm(sim_providers, db, "pev_01JDNOSUCHEVENT00000000000") is None


async def test_unknown_or_unsafe_references_are_not_trusted(
    http: httpx.AsyncClient,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    sim_providers: ProviderRegistry,
    db: Database,
) -> None:
    unknown = await _stored_callback(
        http, owner_connection, "att_unknown", mtn_body(reference=str(uuid.uuid4()))
    )
    assert await confirm(sim_providers, db, unknown["id"]) == CallbackResult.not_found
    # Both products were asked before concluding.
    reads = [r.path for r in sims.mtn.requests if r.method == "GET"]
    assert any("/collection/v1_0/requesttopay/" in p for p in reads)
    assert any("/disbursement/v1_0/transfer/" in p for p in reads)

    sims.mtn.requests.clear()
    unsafe = await _stored_callback(
        http, owner_connection, "att_unsafe", mtn_body(reference="../../v1_0/apiuser")
    )
    assert await confirm(sim_providers, db, unsafe["id"]) == CallbackResult.invalid_reference
    assert list(sims.mtn.requests) == []


async def test_operator_outage_retries_then_records(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection, db: Database
) -> None:
    """A status read that cannot reach the operator fails the job (the worker retries it with
    backoff); the last attempt records `operator_unavailable` instead of failing for ever."""
    down = ProviderRegistry(
        ProvidersSettings(
            mtn_momo=MtnMomoSettings(
                base_url=f"http://127.0.0.1:{free_port()}", resilience=RESILIENCE
            )
        )
    )
    event = await _stored_callback(
        http, owner_connection, "att_down", mtn_body(reference=str(uuid.uuid4()))
    )
    try:
        with pytest.raises(RetryLater):
            await confirm(down, db, event["id"], attempt=1)
        row = await owner_connection.fetchrow(
            "SELECT * FROM provider_events WHERE id = $1", event["id"]
        )
        assert row["processed_at"] is None
        assert await confirm(down, db, event["id"], attempt=ATTEMPTS) == (
            CallbackResult.operator_unavailable
        )
    finally:
        await down.aclose()
    row = await owner_connection.fetchrow(
        "SELECT * FROM provider_events WHERE id = $1", event["id"]
    )
    assert row["result"] == CallbackResult.operator_unavailable
    assert orjson.loads(row["result_detail"])["error"] in {
        "ProviderUnavailable",
        "ProviderTimeout",
        "CircuitOpen",
    }


async def test_form_encoded_notification_is_stored_not_refused(
    http: httpx.AsyncClient, owner_connection: asyncpg.Connection
) -> None:
    """Orange's notification encoding is unverified (docs/providers-wire.md §2): a form post must
    reach the endpoint and be stored, not be refused with 415 like a public API call."""
    response = await http.post(
        path("orange_money", "att_form"),
        content=b"status=SUCCESS&notif_token=b7c1d9e2&txnid=MP261127.1012.A12345",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_received(response)
    event = await only_event(owner_connection)
    assert event["attempt_id"] == "att_form"
    assert event["claimed_status"] == "succeeded"
