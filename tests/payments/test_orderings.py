"""Model-based test over orderings of create / confirm / cancel / refund / payout / callbacks,
through the real API, a real worker and the real simulators (issue 13, "Tests").

Hypothesis drives the machine synchronously in a thread; every step runs its coroutine on the
test's event loop, where the API client, the worker and the simulators live. One merchant for
the whole run (sign-ups are rate limited): each example starts from the balance the previous one
left, every object of an earlier example being final. After each `settle` step (and at
teardown) every object of the example is final and:

- the change of the merchant's ledger balance (available + pending + reserved, from
  `/v1/balance`) since the example began equals what the simulators say moved for it:
  Σ collected - Σ fees (2 %, half up) - Σ refunded + Σ fee returned (docs/refunds.md,
  `fee_share`) - Σ paid out, plus what the test funded;
- each intent, attempt, refund and payout has the status of its one simulator transaction;
- each succeeded attempt is posted exactly once (`payment_attempt:<id>`), each succeeded refund
  and payout once (`<id>:float`); `ledger verify` passes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Coroutine
from typing import Any, ClassVar, TypeVar

import asyncpg
import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from mboa.config import PayoutsSettings, RefundsSettings, Settings
from mboa.payments.tasks import janitor
from mboa.payouts.tasks import check_in_transit
from mboa.postgres import Database
from mboa.providers.registry import ProviderRegistry
from mboa.refunds.tasks import check_pending
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from mboa.worker.run import run_worker
from tests.helpers import Api, bearer
from tests.ledger.conftest import run_verify
from tests.payments.conftest import worker_settings
from tests.payouts.helpers import fund

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ledger_db")]

T = TypeVar("T")

# Payers (docs/sandbox.md magic numbers). Refunds go back to the payer, so only payers whose
# transfers end are used: 00 success, 02 rejected, 05 delayed success, 06 success with the
# callback lost (found by the janitor's status read), 07 callback sent twice.
PAYERS = [
    "+237670000000",
    "+237670000002",
    "+237670000005",
    "+237670000006",
    "+237670000007",
    "+237690000000",
    "+237690000002",
    "+237690000007",
]
PAYOUT_DESTINATIONS = ["+237670000000", "+237690000000", "+237670000002", "+237690000002"]
INTENT_FINAL = {"succeeded", "canceled", "requires_payment_method"}
SIM_STATE = {"succeeded": "succeeded", "failed": "failed"}


def fee_of(amount: int) -> int:
    """The default fee plan: 2 %, rounded half up to the franc (docs/ledger.md)."""
    return (amount * 200 + 5_000) // 10_000


@dataclasses.dataclass
class Intent:
    id: str
    amount: int
    refunded: int = 0  # what the model's refunds took (all of them succeed: see PAYERS)
    fee_returned: int = 0


@pytest_asyncio.fixture
async def full_worker(
    http: Any,
    settings: Settings,
    sims: RunningSimulators,
    base_url: str,
    database_url: str,
    redis_url: str,
) -> AsyncIterator[TaskContext]:
    """The payments' worker with short status-read intervals for refunds and payouts too."""
    configured = worker_settings(settings, sims, base_url, redis_url).model_copy(
        update={
            "refunds": RefundsSettings(
                status_check_after_seconds=0.3, status_check_max_interval_seconds=1.0
            ),
            "payouts": PayoutsSettings(
                status_check_after_seconds=0.3, status_check_max_interval_seconds=1.0
            ),
        }
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(configured, database_url, redis_url, stop=stop))
    providers = ProviderRegistry(configured.providers)
    db = Database.connect(configured, database_url, process="test-orderings")
    try:
        yield TaskContext(configured, db, providers=providers)
    finally:
        sims.reset()
        stop.set()
        await running
        await providers.aclose()
        await db.dispose()


class OrderingsMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    api: ClassVar[Api]
    ctx: ClassVar[TaskContext]
    db: ClassVar[Database]
    owner: ClassVar[asyncpg.Connection]
    sims: ClassVar[RunningSimulators]
    settings: ClassVar[Settings]
    key: ClassVar[str]
    merchant: ClassVar[str]
    counter: ClassVar[itertools.count[int]] = itertools.count()
    last_request: ClassVar[float] = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.intents: dict[str, Intent] = {}
        self.funded = 0  # net put on the available balance directly through the ledger
        self.refund_ids: list[str] = []
        self.payout_ids: list[str] = []
        # An example Hypothesis cut short had no teardown: wait for its objects to end.
        self.run(self._settled())
        start = self.run(self._balance())
        assert start["reserved"] == 0, start
        self.base = sum(start.values())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def _pick(self, pick: int) -> str:
        return list(self.intents)[pick % len(self.intents)]

    @property
    def http(self) -> httpx.AsyncClient:
        return self.api.http

    async def _paced(self) -> None:
        """At most 20 requests a second: the API's limit per test-mode key is 25."""
        wait = self.last_request + 0.05 - self.loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        type(self).last_request = self.loop.time()

    async def _get(self, path: str) -> dict[str, Any]:
        await self._paced()
        response = await self.http.get(path, headers=bearer(self.key))
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        await self._paced()
        return await self.http.post(path, json=body, headers=bearer(self.key))

    # -- rules ---------------------------------------------------------------------------------

    @initialize(
        amounts=st.lists(st.integers(min_value=100, max_value=5_000), min_size=2, max_size=3),
        payers=st.lists(st.sampled_from(PAYERS), min_size=3, max_size=3),
        funded=st.integers(min_value=0, max_value=5_000),
    )
    def start(self, amounts: list[int], payers: list[str], funded: int) -> None:
        """A few intents already sent, and maybe money on the available balance."""
        for amount, payer in zip(amounts, payers, strict=False):
            self.create_intent(amount, payer)
        if funded >= 500:
            self.fund_balance(funded)

    @rule(
        amount=st.integers(min_value=100, max_value=5_000),
        payer=st.sampled_from([*PAYERS, None]),
    )
    def create_intent(self, amount: int, payer: str | None) -> None:
        body: dict[str, Any] = {
            "amount": amount,
            "currency": "XAF",
            "reference": f"ord-{next(self.counter)}",
        }
        if payer is not None:  # confirmed at once; else it waits for a payment method
            body["phone"] = payer
        response = self.run(self._post("/v1/payment_intents", body))
        assert response.status_code == 200, response.text
        created = response.json()
        assert created["status"] == ("processing" if payer else "requires_payment_method")
        self.intents[created["id"]] = Intent(created["id"], amount)

    @precondition(lambda self: bool(self.intents))
    @rule(pick=st.integers(min_value=0, max_value=1_000), payer=st.sampled_from(PAYERS))
    def confirm(self, pick: int, payer: str) -> None:
        intent = self._pick(pick)
        current = self.run(self._get(f"/v1/payment_intents/{intent}"))
        response = self.run(self._post(f"/v1/payment_intents/{intent}/confirm", {"phone": payer}))
        if current["status"] == "requires_payment_method":
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "processing"
        elif current["status"] in {"succeeded", "canceled"}:
            assert response.status_code == 409, response.text
        else:  # processing: may have failed meanwhile
            assert response.status_code in {200, 409}, response.text

    @precondition(lambda self: bool(self.intents))
    @rule(pick=st.integers(min_value=0, max_value=1_000))
    def cancel(self, pick: int) -> None:
        intent = self._pick(pick)
        current = self.run(self._get(f"/v1/payment_intents/{intent}"))
        response = self.run(
            self._post(
                f"/v1/payment_intents/{intent}/cancel",
                {"cancellation_reason": "requested_by_customer"},
            )
        )
        if current["status"] in {"succeeded", "canceled"}:
            assert response.status_code == 409, response.text
        elif current["status"] == "requires_payment_method":
            # Unless a confirm raced it: the model never confirms concurrently.
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "canceled"
        else:
            assert response.status_code in {200, 409}, response.text

    @precondition(lambda self: bool(self.intents))
    @rule(pick=st.integers(min_value=0, max_value=1_000), share=st.integers(1, 100))
    def refund(self, pick: int, share: int) -> None:
        intent = self.intents[self._pick(pick)]
        current = self.run(self._get(f"/v1/payment_intents/{intent.id}"))
        left = current["amount_received"] - current["amount_refunded"]
        amount = max(1, left * share // 100)
        response = self.run(
            self._post("/v1/refunds", {"payment_intent": intent.id, "amount": amount})
        )
        if response.status_code == 409:  # it received nothing (yet)
            assert current["status"] != "succeeded", response.text
            return
        if current["status"] == "succeeded" and left == 0:
            assert response.status_code == 400, response.text
            return
        if response.status_code == 400:  # the net is held by a payout in flight
            assert response.json()["error"]["code"] == "refund_balance_insufficient"
            return
        # 200, also when the success landed between the read and the request.
        assert response.status_code == 200, response.text
        created = response.json()
        received, fee = intent.amount, fee_of(intent.amount)
        before = intent.refunded
        expected = fee * (before + amount) // received - fee * before // received
        assert created["fee_returned"] == expected, (created, expected)
        intent.refunded += amount
        intent.fee_returned += expected
        self.refund_ids.append(created["id"])

    @rule(amount=st.integers(min_value=500, max_value=5_000))
    def fund_balance(self, amount: int) -> None:
        """Money on the available balance, collected and settled through the ledger service."""
        self.funded += self.run(fund(self.db, self.merchant, amount))

    @rule(share=st.integers(min_value=1, max_value=100), to=st.sampled_from(PAYOUT_DESTINATIONS))
    def payout(self, share: int, to: str) -> None:
        available = self.run(self._balance())["available"]
        amount = max(100, available * share // 100)
        response = self.run(
            self._post(
                "/v1/payouts",
                {"amount": amount, "currency": "XAF", "destination": {"phone": to}},
            )
        )
        if amount > available:
            assert response.status_code == 400, response.text
            assert response.json()["error"]["code"] == "balance_insufficient"
        else:
            assert response.status_code == 200, response.text
            self.payout_ids.append(response.json()["id"])

    @rule(pick=st.integers(min_value=0, max_value=1_000), stale=st.booleans())
    def replay_callback(self, pick: int, stale: bool) -> None:
        """A callback the simulator sent, sent again; or a stale FAILED one after it."""
        ours = self.run(self._external_ids())
        sent = [
            c
            for engine in (self.sims.mtn, self.sims.orange)
            for c in engine.callbacks
            if (tx := engine.transactions.get(c.transaction_id)) is not None
            and tx.external_id in ours
        ]
        if not sent:
            return
        callback = sent[pick % len(sent)]  # what was sent depends on timing: no draw from it
        body = dict(callback.body)
        if stale:
            body = {k: v for k, v in body.items() if k not in {"financialTransactionId", "txnid"}}
            body["status"] = "FAILED"
            body["reason"] = "APPROVAL_REJECTED"

        async def send() -> int:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.request(callback.method, callback.url, json=body)
                return response.status_code

        # 429: the callback route's per-address limit (60 a minute, and every simulator callback
        # comes from 127.0.0.1 too); refused is a legitimate answer, it changes nothing either.
        assert self.run(send()) in {200, 429}

    @rule()
    def settle(self) -> None:
        self.run(self._settled())
        self.run(self._check())

    def teardown(self) -> None:
        self.run(self._settled())
        self.run(self._check())

    # -- the invariant -------------------------------------------------------------------------

    async def _balance(self) -> dict[str, int]:
        body = await self._get("/v1/balance")
        return {
            part: sum(r["amount"] for r in body[part] if r["currency"] == "XAF")
            for part in ("available", "pending", "reserved")
        }

    async def _all(self, path: str) -> list[dict[str, Any]]:
        """Every object of a list route, page by page (a few requests: the per-key limit)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            await self._paced()
            response = await self.http.get(path, params=params, headers=bearer(self.key))
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["data"])
            if not page["has_more"]:
                return found
            params["starting_after"] = page["data"][-1]["id"]

    async def _external_ids(self) -> set[str]:
        rows = await self.owner.fetch(
            "SELECT id FROM payment_attempts WHERE payment_intent_id = ANY($1)"
            " UNION ALL SELECT id FROM refund_disbursements WHERE source_id = ANY($2)"
            " UNION ALL SELECT id FROM disbursements WHERE source_id = ANY($3)",
            list(self.intents),
            self.refund_ids,
            self.payout_ids,
        )
        return {r["id"] for r in rows}

    async def _settled(self, within: float = 20.0) -> None:
        """Wait until every object of the merchant is final, running the status-read crons
        (the scheduler's, every minute) by hand for lost callbacks."""
        deadline = self.loop.time() + within
        while True:
            waiting = await self.owner.fetch(
                "SELECT id FROM payment_intents WHERE merchant_id = $1 AND status <> ALL($2)"
                " UNION ALL SELECT a.id FROM payment_attempts a JOIN payment_intents i"
                " ON i.id = a.payment_intent_id WHERE i.merchant_id = $1"
                " AND a.status = 'pending'"
                " UNION ALL SELECT id FROM refunds WHERE merchant_id = $1 AND status = 'pending'"
                " UNION ALL SELECT id FROM payouts WHERE merchant_id = $1"
                " AND status IN ('pending', 'in_transit')",
                self.merchant,
                sorted(INTENT_FINAL),
            )
            if not waiting:
                return
            if self.loop.time() > deadline:
                raise AssertionError(f"not final after {within}s: {[r['id'] for r in waiting]}")
            await janitor(self.ctx, {})
            await check_pending(self.ctx, {})
            await check_in_transit(self.ctx, {})
            await asyncio.sleep(0.1)

    async def _check(self) -> None:
        await asyncio.sleep(0.2)  # let any replayed callback's confirmation run
        txs = {
            tx.external_id: tx
            for engine in (self.sims.mtn, self.sims.orange)
            for tx in engine.transactions.values()
        }
        counts: dict[str, int] = {}
        for engine in (self.sims.mtn, self.sims.orange):
            for tx in engine.transactions.values():
                counts[tx.external_id] = counts.get(tx.external_id, 0) + 1

        async def posted(key: str) -> int:
            return int(
                await self.owner.fetchval(
                    "SELECT count(*) FROM ledger_transactions WHERE idempotency_key = $1", key
                )
            )

        expected = self.base + self.funded
        objects = {
            o["id"]: o["status"]
            for path in ("/v1/payment_intents", "/v1/refunds", "/v1/payouts")
            for o in await self._all(path)
        }
        # Collections: each attempt is one operator transaction in the same state.
        attempts = await self.owner.fetch(
            "SELECT a.id, a.status, a.operator_reference, i.id AS intent, i.status AS intent_status,"
            " i.amount, i.amount_received, i.fee"
            " FROM payment_attempts a JOIN payment_intents i ON i.id = a.payment_intent_id"
            " WHERE i.id = ANY($1)",
            list(self.intents),
        )
        succeeded_per_intent: dict[str, int] = {}
        for a in attempts:
            assert counts.get(a["id"]) == 1, (a["id"], counts.get(a["id"]))
            tx = txs[a["id"]]
            assert tx.id == a["operator_reference"]
            assert (tx.kind, tx.state) == ("collection", a["status"]), (a["id"], tx.state)
            assert await posted(f"payment_attempt:{a['id']}") == (a["status"] == "succeeded")
            if tx.state == "succeeded":
                succeeded_per_intent[a["intent"]] = succeeded_per_intent.get(a["intent"], 0) + 1
                expected += tx.amount - fee_of(tx.amount)
        intents = await self.owner.fetch(
            "SELECT id, status, amount, amount_received, fee, amount_refunded"
            " FROM payment_intents WHERE id = ANY($1)",
            list(self.intents),
        )
        assert {i["id"] for i in intents} == set(self.intents)
        for i in intents:
            won = succeeded_per_intent.get(i["id"], 0)
            assert won <= 1, i["id"]
            assert (i["status"] == "succeeded") == (won == 1), (i["id"], i["status"])
            assert i["amount_received"] == (i["amount"] if won else 0)
            assert i["fee"] == (fee_of(i["amount"]) if won else 0)
            assert i["amount_refunded"] == self.intents[i["id"]].refunded
            assert objects[i["id"]] == i["status"]
        # Refunds: each is one transfer to the payer; what left is the amount, less the fee share.
        refunds = await self.owner.fetch(
            "SELECT r.id, r.status, r.amount, r.fee_returned, d.id AS dsb, d.status AS dsb_status"
            " FROM refunds r JOIN refund_disbursements d ON d.source_id = r.id"
            " WHERE r.id = ANY($1)",
            self.refund_ids,
        )
        assert sorted(r["id"] for r in refunds) == sorted(self.refund_ids)
        for r in refunds:
            assert counts.get(r["dsb"]) == 1, r["id"]
            tx = txs[r["dsb"]]
            assert (tx.kind, tx.state, tx.amount) == ("disbursement", "succeeded", r["amount"])
            assert (r["status"], r["dsb_status"]) == ("succeeded", "succeeded"), r["id"]
            assert await posted(f"{r['id']}:float") == 1
            assert objects[r["id"]] == r["status"]
            expected -= tx.amount - r["fee_returned"]
        assert sum(r["fee_returned"] for r in refunds) == sum(
            m.fee_returned for m in self.intents.values()
        )
        # Payouts: paid exactly when the operator's transfer succeeded.
        payouts = await self.owner.fetch(
            "SELECT p.id, p.status, p.amount, d.id AS dsb, d.status AS dsb_status"
            " FROM payouts p LEFT JOIN disbursements d ON d.source_id = p.id"
            " WHERE p.id = ANY($1)",
            self.payout_ids,
        )
        assert sorted(p["id"] for p in payouts) == sorted(self.payout_ids)
        for p in payouts:
            transfer = txs.get(p["dsb"]) if p["dsb"] else None
            moved = transfer is not None and transfer.state == "succeeded"
            if transfer is not None:  # none when the account-holder check failed it first
                assert counts[p["dsb"]] == 1, p["id"]
                assert (transfer.amount, transfer.state) == (p["amount"], p["dsb_status"]), p["id"]
            assert p["status"] == ("paid" if moved else "failed"), (p["id"], p["status"])
            assert await posted(f"{p['id']}:float") == int(moved)
            assert objects[p["id"]] == p["status"]
            if moved:
                expected -= p["amount"]
        balance = await self._balance()
        assert balance["reserved"] == 0, balance
        assert sum(balance.values()) == expected, (balance, expected)
        report = await run_verify(self.db, self.settings)
        assert report.ok, report.render()


def _run_machine() -> None:
    machine = OrderingsMachine.TestCase
    machine.settings = hypothesis_settings(
        max_examples=10,
        stateful_step_count=12,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine().runTest()


async def test_orderings_keep_the_ledger_equal_to_the_simulators(
    api: Api,
    full_worker: TaskContext,
    db: Database,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    settings: Settings,
) -> None:
    OrderingsMachine.loop = asyncio.get_running_loop()
    OrderingsMachine.api = api
    OrderingsMachine.ctx = full_worker
    OrderingsMachine.db = db
    OrderingsMachine.owner = owner_connection
    OrderingsMachine.sims = sims
    OrderingsMachine.settings = settings
    account = await api.signup()
    OrderingsMachine.key, OrderingsMachine.merchant = account.secret_key, account.merchant_id
    await asyncio.to_thread(_run_machine)
