"""A real receiver (an HTTP server on a socket, in this process) that verifies every request with
the official `standardwebhooks` library, and a real worker (relay + BullMQ) delivering to it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mboa.config import Settings, WebhooksSettings
from mboa.events.service import event as event_service
from mboa.kit.ids import Prefix, new_id
from mboa.kit.net import free_port
from mboa.postgres import Database, TenantContext, set_tenant
from mboa.worker import TaskContext
from mboa.worker.run import run_worker
from tests.helpers import Api, bearer


@dataclasses.dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclasses.dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b"ok"


class Receiver:
    """Records every request; answers each path as told (status, delay); counts how many
    requests each path has in flight at once."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.behaviour: dict[str, Behaviour] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.url = ""

    def reset(self) -> None:
        self.requests.clear()
        self.behaviour.clear()
        self.in_flight.clear()
        self.max_in_flight.clear()

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # The sender died mid-request (a worker killed while other deliveries were on
                # the wire): a receiver never sees such a request, so neither do the tests.
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(path, headers, body, time.monotonic()))
        self.in_flight[path] = self.in_flight.get(path, 0) + 1
        self.max_in_flight[path] = max(self.max_in_flight.get(path, 0), self.in_flight[path])
        behaviour = self.behaviour.get(path, Behaviour())
        try:
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            await send(
                {
                    "type": "http.response.start",
                    "status": behaviour.status,
                    "headers": [(k.encode(), v.encode()) for k, v in behaviour.headers.items()],
                }
            )
            await send({"type": "http.response.body", "body": behaviour.body})
        finally:
            self.in_flight[path] -= 1

    async def wait_for(
        self, predicate: Callable[[], bool], *, within: float = 20.0, what: str = ""
    ) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            await asyncio.sleep(0.02)


def verify(secret: str, request: Received) -> dict[str, Any]:
    """The official Standard Webhooks verifier (raises on a bad signature or stale timestamp)."""
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


def verifies(secret: str, request: Received) -> bool:
    try:
        verify(secret, request)
    except WebhookVerificationError:
        return False
    return True


@pytest_asyncio.fixture(scope="session")
async def _receiver_server() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    port = free_port()
    config = uvicorn.Config(
        receiver.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        interface="asgi3",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def receiver(_receiver_server: Receiver) -> Receiver:
    _receiver_server.reset()
    return _receiver_server


FAST = WebhooksSettings(
    timeout_seconds=3,
    retry_base_seconds=1,
    retry_max_interval_seconds=2,
    busy_retry_ms=50,
    max_in_flight_per_endpoint=2,
)


def webhook_settings(settings: Settings, redis_url: str, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": SecretStr(redis_url),
            # Eight webhook jobs at once: fewer than a slow endpoint's backlog (the cap test).
            "worker": settings.worker.model_copy(update={"queue_concurrency": {"webhooks": 8}}),
            "webhooks": FAST.model_copy(
                update={"encryption_key": settings.webhooks.encryption_key, **changes}
            ),
        }
    )


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[TaskContext]:
    """`mboa worker` in this event loop; yields a context for running tasks by hand."""
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, database_url, redis_url, stop=stop))
    from mboa.providers.registry import ProviderRegistry

    db = Database.connect(settings, database_url, process="test-webhooks")
    providers = ProviderRegistry(settings.providers)
    try:
        yield TaskContext(settings, db, providers=providers)
    finally:
        stop.set()
        await running
        await providers.aclose()
        await db.dispose()


@pytest_asyncio.fixture
async def worker(
    http: Any, settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[TaskContext]:
    async with running_worker(
        webhook_settings(settings, redis_url), database_url, redis_url
    ) as context:
        yield context


async def write_event(
    db: Database,
    merchant_id: str,
    *,
    livemode: bool = False,
    type: str = "payment_intent.succeeded",
    snapshot: dict[str, Any] | None = None,
) -> str:
    """An event written as the payments service writes one: by the event writer, in an API-role
    transaction scoped to the merchant (the fan-out trigger fires on commit)."""
    async with db.app_sessions() as session:
        await set_tenant(session, TenantContext(merchant_id, livemode=livemode))
        event = await event_service.record(
            session,
            merchant_id=merchant_id,
            livemode=livemode,
            type=type,
            snapshot=snapshot or {"id": new_id(Prefix.payment_intent), "object": "payment_intent"},
        )
        await session.commit()
        return event.id


async def create_endpoint(
    api: Api, key: str, url: str, *, events: list[str] | None = None, **body: Any
) -> dict[str, Any]:
    response = await api.http.post(
        "/v1/webhook_endpoints",
        json={"url": url, "enabled_events": events or ["*"], **body},
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def deliveries(api: Api, key: str, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.http.get(
        f"/v1/webhook_endpoints/{endpoint_id}/deliveries", params=params, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


@pytest_asyncio.fixture
async def by_hand(
    http: Any, settings: Settings, database_url: str, redis_url: str
) -> AsyncIterator[TaskContext]:
    """A task context without a worker: the test runs the outbox's jobs itself (`run_outbox`),
    when its clock says so."""
    from mboa.providers.registry import ProviderRegistry

    configured = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
    configured = configured.model_copy(
        update={
            "webhooks": configured.webhooks.model_copy(
                update={"timeout_seconds": 3.0, "busy_retry_ms": 50}
            )
        }
    )
    db = Database.connect(configured, database_url, process="test-webhooks-by-hand")
    providers = ProviderRegistry(configured.providers)
    try:
        yield TaskContext(configured, db, providers=providers)
    finally:
        from mboa.webhooks.sender import close_sender

        await close_sender()
        await providers.aclose()
        await db.dispose()


async def run_outbox(context: TaskContext, owner: Any) -> list[str]:
    """Do the relay's and the worker's work by hand: take every job the outbox holds and run
    its handler (the tasks are the ones the worker runs). Returns the tasks run."""
    from mboa.tasks import load_tasks

    tasks = load_tasks()
    rows = await owner.fetch(
        "UPDATE outbox SET relayed_at = now(), queue = 'by_hand' WHERE relayed_at IS NULL"
        " RETURNING id, task, payload"
    )
    ran = []
    for row in sorted(rows, key=lambda r: r["id"]):
        import orjson

        payload = row["payload"]
        if isinstance(payload, str):
            payload = orjson.loads(payload)
        await tasks[row["task"]].handler(context, payload)
        ran.append(row["task"])
    return ran


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names answered by a fake of the system resolver (`socket.getaddrinfo`, which the event
    loop calls in a thread): our code resolves and checks as it does in production."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers
