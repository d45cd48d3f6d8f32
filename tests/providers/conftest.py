"""Adapters paired with their simulators over real loopback sockets (no mocks of our code)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mboa.providers import ProviderName
from mboa.providers.base import PaymentProvider
from mboa.providers.mtn_momo import MtnMomoSettings
from mboa.providers.mtn_momo.adapter import MtnMomoProvider
from mboa.providers.orange_money import OrangeMoneySettings
from mboa.providers.orange_money.adapter import OrangeMoneyProvider
from mboa.providers.resilience import ResilienceSettings
from mboa.providers.types import (
    CollectionRequest,
    DisbursementRequest,
    Product,
    TransactionRef,
    TransactionResult,
)
from mboa.simulator.config import SimulatorSettings
from mboa.simulator.engine import Engine, RecordedRequest
from mboa.simulator.run import RunningSimulators, running_simulators, serve_asgi

# Short windows keep the folder fast; every duration below is what the outcome needs.
SIM_SETTINGS = SimulatorSettings(
    auto_approve_seconds=0.05,
    approval_window_seconds=0.6,
    delayed_success_seconds=0.3,
    late_success_seconds=0.9,
    slow_response_seconds=0.6,
    callback_timeout_seconds=2.0,
    seed=7,
)
RESILIENCE = ResilienceSettings(
    timeout_seconds=0.3,
    connect_timeout_seconds=0.5,
    retry_attempts=3,
    retry_initial_seconds=0.01,
    retry_max_seconds=0.05,
    retry_jitter_seconds=0.01,
    breaker_threshold=3,
    breaker_ttl_seconds=0.3,
    token_refresh_margin_seconds=0.0,
)


@dataclass
class Received:
    method: str
    our_id: str
    body: bytes


@dataclass
class CallbackSink:
    url: str
    received: list[Received] = field(default_factory=list)

    def for_id(self, our_id: str) -> list[Received]:
        return [r for r in self.received if r.our_id == our_id]

    async def wait_for(self, our_id: str, count: int = 1, within: float = 2.0) -> list[Received]:
        for _ in range(int(within / 0.01)):
            if len(self.for_id(our_id)) >= count:
                break
            await asyncio.sleep(0.01)
        return self.for_id(our_id)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sims() -> AsyncIterator[RunningSimulators]:
    async with running_simulators(SIM_SETTINGS) as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sink() -> AsyncIterator[CallbackSink]:
    holder: list[CallbackSink] = []

    async def receive(request: Request) -> Response:
        holder[0].received.append(
            Received(request.method, request.path_params["our_id"], await request.body())
        )
        return Response(status_code=200)

    app = Starlette(routes=[Route("/cb/{our_id}", receive, methods=["PUT", "POST"])])
    async with serve_asgi(app) as url:
        holder.append(CallbackSink(url=url))
        yield holder[0]


@pytest.fixture(autouse=True)
def _fresh_state(request: pytest.FixtureRequest) -> None:
    if "sims" in request.fixturenames:
        request.getfixturevalue("sims").reset()
    if "sink" in request.fixturenames:
        request.getfixturevalue("sink").received.clear()


def mtn_settings(sims: RunningSimulators, **changes: Any) -> MtnMomoSettings:
    return MtnMomoSettings(base_url=sims.mtn_url, resilience=RESILIENCE).model_copy(update=changes)


def orange_settings(sims: RunningSimulators, **changes: Any) -> OrangeMoneySettings:
    base = OrangeMoneySettings(base_url=sims.orange_url, resilience=RESILIENCE)
    webpay = base.webpay.model_copy(update={"base_url": sims.orange_url})
    return base.model_copy(update={"webpay": webpay, **changes})


@dataclass
class Case:
    """One adapter + its simulator, seen through the provider-neutral port only."""

    name: ProviderName
    provider: PaymentProvider
    engine: Engine
    sink: CallbackSink
    prefix: str

    def magic(self, code: str) -> str:
        """A Cameroonian magic number for outcome `code` (docs/sandbox.md)."""
        return f"+237{self.prefix}0000{code}"

    @property
    def ordinary(self) -> str:
        return f"+237{self.prefix}123456"

    def engine_msisdn(self, phone: str) -> str:
        """How the simulator keys this phone's wallet: MTN `2376…`, Orange 9 digits."""
        digits = phone.removeprefix("+")
        return digits if self.name is ProviderName.mtn_momo else digits.removeprefix("237")

    def callback(self, our_id: str) -> str:
        return f"{self.sink.url}/cb/{our_id}"

    async def collect(
        self, phone: str, *, amount: int = 1500, our_id: str = "att_1", reference: str | None = None
    ) -> TransactionResult:
        reference = reference or await self.provider.reserve_reference(Product.collection)
        return await self.provider.collect(
            CollectionRequest(
                external_id=our_id,
                amount=amount,
                currency="XAF",
                phone=phone,
                reference=reference,
                description="Order 42",
                callback_url=self.callback(our_id),
            )
        )

    async def disburse(
        self, phone: str, *, amount: int = 5000, our_id: str = "po_1"
    ) -> TransactionResult:
        reference = await self.provider.reserve_reference(Product.disbursement)
        return await self.provider.disburse(
            DisbursementRequest(
                external_id=our_id,
                amount=amount,
                currency="XAF",
                phone=phone,
                reference=reference,
                description="Payout 7",
                callback_url=self.callback(our_id),
            )
        )

    async def status(self, ref: TransactionRef) -> TransactionResult:
        if ref.product is Product.collection:
            return await self.provider.collection_status(ref)
        return await self.provider.disbursement_status(ref)

    async def wait_final(self, ref: TransactionRef, within: float = 3.0) -> TransactionResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            result = await self.status(ref)
            if result.status.is_final or loop.time() > deadline:
                return result
            await asyncio.sleep(0.03)

    def creates(self) -> list[RecordedRequest]:
        """Recorded create calls (requesttopay/transfer, mp/pay/cashin/pay)."""
        paths = ("/requesttopay", "/transfer", "/mp/pay", "/cashin/pay")
        return [r for r in self.engine.requests if r.method == "POST" and r.path.endswith(paths)]


def build_case(
    name: ProviderName, sims: RunningSimulators, sink: CallbackSink, **changes: Any
) -> Case:
    if name is ProviderName.mtn_momo:
        return Case(name, MtnMomoProvider(mtn_settings(sims, **changes)), sims.mtn, sink, "670")
    return Case(
        name, OrangeMoneyProvider(orange_settings(sims, **changes)), sims.orange, sink, "690"
    )


@pytest_asyncio.fixture(params=list(ProviderName), ids=lambda p: p.value)
async def case(
    request: pytest.FixtureRequest, sims: RunningSimulators, sink: CallbackSink
) -> AsyncIterator[Case]:
    built = build_case(request.param, sims, sink)
    yield built
    await built.provider.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 2.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return await check()
