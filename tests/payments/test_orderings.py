"""Model-based test over orderings of create / confirm / cancel / expire / refund / payout /
staff review / callbacks, through the real API, a real worker and the real simulators (issue 13,
"Tests").

Hypothesis drives the machine synchronously in a thread; every step runs its coroutine on the
test's event loop, where the API client, the worker and the simulators live. One merchant for
the whole run (sign-ups are rate limited), with a test and a live key: each example starts from
the balances the previous one left, every object of an earlier example being final. After each
`settle` step (and at teardown) every object of the example is final (a live payout awaiting
review excepted) and:

- the change of the merchant's test balance (available + pending + reserved, from
  `/v1/balance`) since the example began equals what the simulators say moved for it:
  Σ collected - Σ fees (2 %, half up) - Σ refunded + Σ fee returned (docs/refunds.md,
  `fee_share_bound`) - Σ paid out, plus what the test funded; the live balance likewise with its
  funding and its paid payouts, its reserved part being the payouts still awaiting review;
- each intent, attempt, refund and payout has the status of its one simulator transaction (none
  for a payout canceled or rejected before it was sent);
- a success that arrived after the intent expired (docs/payments.md "Late successes") is posted
  once, leaves the intent canceled, and the payer gets all of it back;
- each succeeded attempt is posted exactly once (`payment_attempt:<id>`), each succeeded refund
  and payout once (`<id>:float`), each failed or canceled one released once (`<id>:release`);
  `ledger verify` passes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, ClassVar, ParamSpec, TypeVar, cast

import asyncpg
import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition
from hypothesis.stateful import initialize as hypothesis_initialize
from hypothesis.stateful import rule as hypothesis_rule

from mboa.config import PayoutsSettings, RefundsSettings, Settings
from mboa.payments.tasks import janitor
from mboa.payouts.tasks import check_in_transit
from mboa.postgres import Database
from mboa.providers.registry import ProviderRegistry
from mboa.refunds.tasks import check_pending, refund_late_success
from mboa.simulator.engine import SimTransaction
from mboa.simulator.run import RunningSimulators
from mboa.worker import TaskContext
from mboa.worker.run import run_worker
from tests.helpers import Api, bearer
from tests.ledger.conftest import run_verify
from tests.payments.conftest import worker_settings
from tests.payouts.helpers import fund

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ledger_db")]

T = TypeVar("T")
P = ParamSpec("P")

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
# 08: the operator's success arrives after our expiry (and a transfer back to it late too).
LATE_PAYERS = ["+237670000008", "+237690000008"]
# 13: waits for the payer on the phone page, for the payment and for every refund to it; a
# refund nobody answers expires at the operator after the approval window (it fails).
PHONE_PAYERS = ["+237670000013", "+237690000013"]
PAYOUT_DESTINATIONS = ["+237670000000", "+237690000000", "+237670000002", "+237690000002"]
# 05 paid after a while, 13 waiting for the payee on the phone (it expires, or
# `payer_answers_phone` answers): a cancel finds them in transit.
SLOW_DESTINATIONS = ["+237670000005", "+237690000013"]
INTENT_FINAL = {"succeeded", "canceled", "requires_payment_method"}
LATE_REASON = "expired_uncaptured"


SEEN: Counter[str] = Counter()
"""What the run went through (printed at the end): each rule's interesting outcome, reached."""


def seen(what: str) -> None:
    SEEN[what] += 1


def fee_of(amount: int) -> int:
    """The default fee plan: 2 %, rounded half up to the franc (docs/ledger.md)."""
    return (amount * 200 + 5_000) // 10_000


def fee_share_bound(fee: int, received: int, before: int, amount: int) -> int:
    """docs/refunds.md "Ledger": the most fee a refund gives back, written out again here. It
    tops up what the payment's refunds that have not failed returned (which the worker may be
    changing as this runs) to the cumulative proportional share, and leaves the merchant at
    least 1; so it is never more than either."""
    return max(0, min(fee * (before + amount) // received, amount - 1))


def _loud(step: Callable[P, None]) -> Callable[P, None]:
    """Print a failing step's traceback at once. Timing decides part of what happens: when
    Hypothesis replays a failing example and it goes another way (a flaky report), this first
    traceback is the one to read."""

    @functools.wraps(step)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            step(*args, **kwargs)
        except BaseException:
            traceback.print_exc()
            raise

    return run


Step = Callable[..., None]


def rule(**strategies: Any) -> Callable[[Step], Step]:
    """hypothesis' `rule`, the step made `_loud`."""
    return lambda step: cast(Step, hypothesis_rule(**strategies)(_loud(step)))


def initialize(**strategies: Any) -> Callable[[Step], Step]:
    """hypothesis' `initialize`, the step made `_loud`."""
    return lambda step: cast(Step, hypothesis_initialize(**strategies)(_loud(step)))


@dataclasses.dataclass
class Intent:
    id: str
    amount: int
    on_phone: bool = False  # paid by a 13 payer: its refunds wait on the phone and may fail
    late: bool = False  # expired before the operator's (late) success: must end refunded


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


class LedgerModel(RuleBasedStateMachine):
    """The model, its helpers, the invariant, and the rules both machines share."""

    loop: ClassVar[asyncio.AbstractEventLoop]
    api: ClassVar[Api]
    ctx: ClassVar[TaskContext]
    db: ClassVar[Database]
    owner: ClassVar[asyncpg.Connection]
    sims: ClassVar[RunningSimulators]
    settings: ClassVar[Settings]
    key: ClassVar[str]
    live_key: ClassVar[str]
    staff: ClassVar[str]
    merchant: ClassVar[str]
    threshold: ClassVar[int]
    counter: ClassVar[itertools.count[int]] = itertools.count()
    last_request: ClassVar[float] = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.intents: dict[str, Intent] = {}
        self.funded = 0  # net put on the test available balance directly through the ledger
        self.live_funded = 0
        self.refund_ids: list[str] = []
        # What our cancel said: None (never canceled), "canceled" (200), "sent" (409: the worker
        # won the race). Live ones: "awaiting", "approved", "rejected", "canceled".
        self.payouts: dict[str, str | None] = {}
        self.live_payouts: dict[str, str] = {}
        self.short: set[str] = set()  # late successes whose refund the balance could not cover
        self.began = int(time.time()) - 1  # list only this example's objects
        self.late_successes_possible = False  # an intent expired while with the operator
        # An example Hypothesis cut short had no teardown: wait for its objects to end.
        self.run(self._settled())
        start, live = self.run(self._balance()), self.run(self._balance(self.live_key))
        assert start["reserved"] == 0, start
        assert live["reserved"] == 0, live
        self.base, self.live_base = sum(start.values()), sum(live.values())

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

    async def _get(self, path: str, key: str | None = None) -> dict[str, Any]:
        await self._paced()
        response = await self.http.get(path, headers=bearer(key or self.key))
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def _post(
        self, path: str, body: dict[str, Any] | None = None, key: str | None = None
    ) -> httpx.Response:
        await self._paced()
        return await self.http.post(path, json=body or {}, headers=bearer(key or self.key))

    # -- rules: payments -----------------------------------------------------------------------

    def _create(self, amount: int, payer: str | None, expires_in: int | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "amount": amount,
            "currency": "XAF",
            "reference": f"ord-{next(self.counter)}",
        }
        if payer is not None:  # confirmed at once; else it waits for a payment method
            body["phone"] = payer
        if expires_in is not None:
            body["expires_in"] = expires_in
        response = self.run(self._post("/v1/payment_intents", body))
        assert response.status_code == 200, response.text
        created = dict(response.json())
        assert created["status"] == ("processing" if payer else "requires_payment_method")
        lasts = created["expires_at"] - created["created"]
        assert abs(lasts - (expires_in or 3600)) <= 1, created
        self.intents[created["id"]] = Intent(created["id"], amount)
        return created

    @rule(
        amount=st.integers(min_value=100, max_value=5_000),
        payer=st.sampled_from([*PAYERS, None]),
        expires_in=st.sampled_from([None, 60, 900]),
    )
    def create_intent(self, amount: int, payer: str | None, expires_in: int | None) -> None:
        self._create(amount, payer, expires_in)

    async def _expire(self, intent_id: str) -> None:
        """`expires_at` reached (the clock moved for this one intent), then the janitor's run,
        as the scheduler does every minute."""
        await self.owner.execute(
            "UPDATE payment_intents SET expires_at = now() WHERE id = $1 AND expires_at > now()",
            intent_id,
        )
        await janitor(self.ctx, {})

    async def _operator_transaction(self, external_id: str) -> SimTransaction:
        deadline = self.loop.time() + 10
        while True:
            for engine in (self.sims.mtn, self.sims.orange):
                for tx in engine.transactions.values():
                    if tx.external_id == external_id:
                        return tx
            assert self.loop.time() < deadline, f"no operator transaction for {external_id}"
            await asyncio.sleep(0.02)

    async def _answer(self, tx: SimTransaction, *, approve: bool) -> str:
        """The payer presses Approve or Reject on the phone page (the simulator's control API)."""
        url = self.sims.mtn_url if tx.id in self.sims.mtn.transactions else self.sims.orange_url
        async with httpx.AsyncClient(base_url=url, timeout=10) as sim:
            path = f"/_sim/transactions/{tx.id}/{'approve' if approve else 'reject'}"
            response = await sim.post(path)
            assert response.status_code == 200, response.text
        return tx.state

    async def _wait_intent(self, intent_id: str, status: str) -> None:
        deadline = self.loop.time() + 10
        while (await self._get(f"/v1/payment_intents/{intent_id}"))["status"] != status:
            assert self.loop.time() < deadline, f"{intent_id} not {status}"
            await janitor(self.ctx, {})  # its status reads, should the callback be refused (429)
            await asyncio.sleep(0.05)

    # -- rules: refunds ------------------------------------------------------------------------

    async def _refunds_final(self, intent_id: str) -> None:
        """A refund to a 13 payer may still fail (and give its amount back to the refundable
        part): wait for them, so that the next refund's fee share is known."""
        deadline = self.loop.time() + 10
        while await self.owner.fetchval(
            "SELECT count(*) FROM refunds WHERE payment_intent_id = $1 AND status = 'pending'",
            intent_id,
        ):
            assert self.loop.time() < deadline, f"refunds of {intent_id} still pending"
            await check_pending(self.ctx, {})
            await asyncio.sleep(0.05)

    @precondition(lambda self: bool(self.intents))
    @rule(pick=st.integers(min_value=0, max_value=1_000), share=st.integers(1, 100))
    def refund(self, pick: int, share: int) -> None:
        self._refund(self.intents[self._pick(pick)], share)

    def _refund(self, intent: Intent, share: int) -> None:
        if intent.on_phone:
            self.run(self._refunds_final(intent.id))
        current = self.run(self._get(f"/v1/payment_intents/{intent.id}"))
        received, before = current["amount_received"], current["amount_refunded"]
        left = received - before
        amount = max(1, left * share // 100)
        response = self.run(
            self._post("/v1/refunds", {"payment_intent": intent.id, "amount": amount})
        )
        if response.status_code == 409:  # it received nothing (yet)
            assert response.json()["error"]["code"] == "payment_intent_not_refundable"
            assert received == 0, response.text
            return
        if response.status_code == 400:
            code = response.json()["error"]["code"]
            if code == "refund_amount_exceeds_refundable":
                # Nothing left, or a late success's automatic refund took it meanwhile.
                now = self.run(self._get(f"/v1/payment_intents/{intent.id}"))
                assert now["amount_received"] - now["amount_refunded"] < amount, (now, amount)
                assert left == 0 or now["status"] == "canceled", (current, now)
            else:  # the net is held by a payout in flight
                assert code == "refund_balance_insufficient", response.text
            return
        # 200, also when the success landed between the read and the request.
        assert response.status_code == 200, response.text
        created = response.json()
        bound = fee_share_bound(fee_of(intent.amount), intent.amount, before, amount)
        assert 0 <= created["fee_returned"] <= bound, (created, bound)
        self.refund_ids.append(created["id"])

    @rule(amount=st.integers(min_value=500, max_value=5_000))
    def fund_balance(self, amount: int) -> None:
        """Money on the available balance, collected and settled through the ledger service."""
        self.funded += self.run(fund(self.db, self.merchant, amount))

    @rule(share=st.integers(min_value=1, max_value=100), to=st.sampled_from(PAYOUT_DESTINATIONS))
    def payout(self, share: int, to: str) -> None:
        self._payout(share, to)

    def _payout(self, share: int, to: str) -> str | None:
        """A payout of a share of the available balance: its id, or None when refused."""
        available = self.run(self._balance())["available"]
        amount = max(100, available * share // 100)
        response = self.run(
            self._post(
                "/v1/payouts",
                {"amount": amount, "currency": "XAF", "destination": {"phone": to}},
            )
        )
        if response.status_code == 400:
            assert response.json()["error"]["code"] == "balance_insufficient"
            # It fitted when read: only a late success's automatic refund takes from the
            # available balance behind the model's back.
            assert amount > available or self.late_successes_possible, (amount, available)
            return None
        # 200, also when a failed payout or refund gave money back since the read.
        assert response.status_code == 200, response.text
        payout = str(response.json()["id"])
        self.payouts[payout] = None
        return payout

    async def _cancel_payout(self, payout: str, *, pending: bool | None) -> None:
        """Cancel; `pending` is what a read just before said (None: not read, a race)."""
        if pending is not None:  # else at once, unpaced: the race with the worker is the point
            await self._paced()
        response = await self.http.post(f"/v1/payouts/{payout}/cancel", headers=bearer(self.key))
        if response.status_code == 200:
            assert pending is not False, response.text
            body = response.json()
            assert (body["status"], body["cancellation_reason"]) == (
                "canceled",
                "requested_by_merchant",
            )
            self.payouts[payout] = "canceled"
            seen("payout cancel: won")
        else:
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "payout_unexpected_state"
            if self.payouts[payout] is None:
                self.payouts[payout] = "sent"
            seen(
                "payout cancel: lost to the worker"
                if pending is not False
                else "payout cancel: late"
            )

    @rule()
    def settle(self) -> None:
        self.run(self._settled())
        self.run(self._check())

    @_loud
    def teardown(self) -> None:
        # The merchant withdraws what still waits for staff: the next example starts unreserved.
        for payout, state in self.live_payouts.items():
            if state == "awaiting":
                response = self.run(self._post(f"/v1/payouts/{payout}/cancel", key=self.live_key))
                assert response.status_code == 200, response.text
                self.live_payouts[payout] = "canceled"
        self.run(self._settled())
        self.run(self._check())

    # -- the invariant -------------------------------------------------------------------------

    async def _balance(self, key: str | None = None) -> dict[str, int]:
        body = await self._get("/v1/balance", key)
        return {
            part: sum(r["amount"] for r in body[part] if r["currency"] == "XAF")
            for part in ("available", "pending", "reserved")
        }

    async def _all(self, path: str, key: str | None = None) -> list[dict[str, Any]]:
        """Every object of a list route, page by page (a few requests: the per-key limit)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100, "created[gte]": self.began}
        while True:
            await self._paced()
            response = await self.http.get(path, params=params, headers=bearer(key or self.key))
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["data"])
            if not page["has_more"]:
                return found
            params["starting_after"] = page["data"][-1]["id"]

    async def _external_ids(self) -> set[str]:
        rows = await self.owner.fetch(
            "SELECT id FROM payment_attempts WHERE payment_intent_id = ANY($1)"
            " UNION ALL SELECT d.id FROM disbursements d JOIN refunds r"
            " ON r.id = d.source_id WHERE r.payment_intent_id = ANY($1)"
            " UNION ALL SELECT id FROM disbursements WHERE source_id = ANY($2)",
            list(self.intents),
            [*self.payouts, *self.live_payouts],
        )
        return {r["id"] for r in rows}

    async def _settled(self, within: float = 20.0) -> None:
        """Wait until every object of the merchant is final (a payout awaiting review aside),
        running the status-read crons (the scheduler's, every minute) by hand for lost
        callbacks."""
        deadline = self.loop.time() + within
        due_since: float | None = None
        while True:
            waiting = await self.owner.fetch(
                "SELECT id, false AS due FROM payment_intents WHERE merchant_id = $1"
                " AND status <> ALL($2)"
                " UNION ALL SELECT a.id, false FROM payment_attempts a JOIN payment_intents i"
                " ON i.id = a.payment_intent_id WHERE i.merchant_id = $1"
                " AND a.status = 'pending'"
                " UNION ALL SELECT id, false FROM refunds WHERE merchant_id = $1"
                " AND status = 'pending'"
                " UNION ALL SELECT id, false FROM payouts WHERE merchant_id = $1"
                " AND (status = 'in_transit' OR (status = 'pending'"
                " AND review_status <> 'awaiting'))"
                " UNION ALL SELECT id, true FROM payment_intents WHERE merchant_id = $1"
                " AND refund_due AND id <> ALL($3)",
                self.merchant,
                sorted(INTENT_FINAL),
                sorted(self.short),
            )
            if not waiting:
                return
            now = self.loop.time()
            if all(r["due"] for r in waiting):
                # Only late successes whose automatic refund has not run: its job was enqueued
                # with the success. Give it time (two retries: 2 s, then 4 s); then the one
                # documented reason it may not have refunded is a balance that cannot cover it
                # (docs/refunds.md).
                due_since = due_since if due_since is not None else now
                if now - due_since > 8:
                    for row in waiting:
                        jobs = await self._late_refund_jobs(row["id"])
                        outcome = await refund_late_success(self.ctx, {"payment_intent": row["id"]})
                        assert outcome == "balance_insufficient", (row["id"], outcome, jobs)
                        self.short.add(row["id"])
                    continue
            else:
                due_since = None
            if now > deadline:
                raise AssertionError(f"not final after {within}s: {[r['id'] for r in waiting]}")
            await janitor(self.ctx, {})
            await check_pending(self.ctx, {})
            await check_in_transit(self.ctx, {})
            await asyncio.sleep(0.1)

    async def _late_refund_jobs(self, intent_id: str) -> list[dict[str, Any]]:
        """BullMQ's record of the automatic refund's jobs (attempts made, last failure)."""
        redis = self.api.state.redis
        prefix = self.ctx.settings.worker.queue_prefix
        found = []
        async for key in redis.scan_iter(match=f"{prefix}:refunds:*late_success:{intent_id}:*"):
            if await redis.type(key) in (b"hash", "hash"):  # the job; not its lock or logs
                job = {
                    str(k, "utf-8") if isinstance(k, bytes) else k: v
                    for k, v in (await redis.hgetall(key)).items()
                }
                found.append(
                    {k: job.get(k) for k in ("attemptsMade", "failedReason", "finishedOn")}
                )
        return found

    async def _posted(self, keys: list[str]) -> dict[str, int]:
        """How many ledger transactions carry each idempotency key."""
        rows = await self.owner.fetch(
            "SELECT k, (SELECT count(*) FROM ledger_transactions WHERE idempotency_key = k)"
            " AS n FROM unnest($1::text[]) AS k",
            keys,
        )
        return {r["k"]: r["n"] for r in rows}

    async def _check(self) -> None:
        await asyncio.sleep(0.2)  # let any replayed callback's confirmation run
        txs: dict[str, SimTransaction] = {}
        counts: dict[str, int] = {}
        for engine in (self.sims.mtn, self.sims.orange):
            for tx in engine.transactions.values():
                txs[tx.external_id] = tx
                counts[tx.external_id] = counts.get(tx.external_id, 0) + 1
        expected = self.base + self.funded
        objects = {
            o["id"]: o["status"]
            for path in ("/v1/payment_intents", "/v1/refunds", "/v1/payouts")
            for o in await self._all(path)
        }
        expected += await self._check_collections(txs, counts, objects)
        expected -= await self._check_refunds(txs, counts, objects)
        expected -= await self._check_payouts(txs, counts, objects, live=False)
        balance = await self._balance()
        assert balance["reserved"] == 0, balance
        assert sum(balance.values()) == expected, (balance, expected)
        if self.live_payouts or self.live_funded:
            await self._check_live(txs, counts)
        report = await run_verify(self.db, self.settings)
        assert report.ok, report.render()

    async def _check_live(self, txs: dict[str, SimTransaction], counts: dict[str, int]) -> None:
        """The live balance moved by what was funded and paid out; what awaits staff is
        reserved."""
        live = await self._balance(self.live_key)
        live_objects = {o["id"]: o["status"] for o in await self._all("/v1/payouts", self.live_key)}
        paid_live = await self._check_payouts(txs, counts, live_objects, live=True)
        awaiting = int(
            await self.owner.fetchval(
                "SELECT coalesce(sum(amount), 0) FROM payouts WHERE id = ANY($1)",
                [p for p, state in self.live_payouts.items() if state == "awaiting"],
            )
        )
        assert live["reserved"] == awaiting, (live, awaiting)
        assert sum(live.values()) == self.live_base + self.live_funded - paid_live, live

    async def _check_collections(
        self, txs: dict[str, SimTransaction], counts: dict[str, int], objects: dict[str, str]
    ) -> int:
        """Each attempt is one operator transaction in the same state, posted once when it
        succeeded; returns what the successes put on the merchant's balance."""
        moved = 0
        attempts = await self.owner.fetch(
            "SELECT a.id, a.status, a.operator_reference, a.payment_intent_id AS intent"
            " FROM payment_attempts a WHERE a.payment_intent_id = ANY($1)",
            list(self.intents),
        )
        posted = await self._posted([f"payment_attempt:{a['id']}" for a in attempts])
        won: dict[str, int] = {}
        for a in attempts:
            assert counts.get(a["id"]) == 1, (a["id"], counts.get(a["id"]))
            tx = txs[a["id"]]
            assert tx.id == a["operator_reference"]
            assert (tx.kind, tx.state) == ("collection", a["status"]), (a["id"], tx.state)
            assert posted[f"payment_attempt:{a['id']}"] == (a["status"] == "succeeded")
            if tx.state == "succeeded":
                won[a["intent"]] = won.get(a["intent"], 0) + 1
                moved += tx.amount - fee_of(tx.amount)
        intents = await self.owner.fetch(
            "SELECT id, status, cancellation_reason, amount, amount_received, fee,"
            " amount_refunded, refund_due FROM payment_intents WHERE id = ANY($1)",
            list(self.intents),
        )
        assert {i["id"] for i in intents} == set(self.intents)
        late = {
            r["object_id"]: r["n"]
            for r in await self.owner.fetch(
                "SELECT object_id, count(*) AS n FROM events WHERE object_id = ANY($1)"
                " AND type = 'payment_intent.late_success' GROUP BY object_id",
                list(self.intents),
            )
        }
        for i in intents:
            model, paid = self.intents[i["id"]], won.get(i["id"], 0)
            assert paid <= 1, i["id"]
            assert i["amount_received"] == (i["amount"] if paid else 0), i["id"]
            assert i["fee"] == (fee_of(i["amount"]) if paid else 0), i["id"]
            assert objects[i["id"]] == i["status"]
            late_events = late.get(i["id"], 0)
            if i["status"] == "canceled" and paid:
                # docs/payments.md "Late successes": posted once, canceled stays, refunded.
                assert i["cancellation_reason"] == "expired", i["id"]
                assert late_events == 1, i["id"]
                if i["id"] in self.short:
                    assert i["refund_due"], i["id"]
                else:
                    assert not i["refund_due"], i["id"]
                    assert i["amount_refunded"] == i["amount_received"], i["id"]
                seen("late success refunded")
            else:
                assert (i["status"] == "succeeded") == bool(paid), (i["id"], i["status"])
                assert late_events == 0, i["id"]
                assert not i["refund_due"], i["id"]
            if model.late:
                assert (i["status"], paid) == ("canceled", 1), (i["id"], i["status"], paid)
        return moved

    async def _check_refunds(
        self, txs: dict[str, SimTransaction], counts: dict[str, int], objects: dict[str, str]
    ) -> int:
        """Each refund is one transfer to the payer, in the refund's state; a succeeded one is
        posted once, a failed one released once. Returns what left the merchant's balance."""
        taken = 0
        refunds = await self.owner.fetch(
            "SELECT r.id, r.payment_intent_id AS intent, r.status, r.amount, r.fee_returned,"
            " r.reason, d.id AS dsb, d.status AS dsb_status"
            " FROM refunds r JOIN disbursements d ON d.source_id = r.id AND d.source_type = 'refund'"
            " WHERE r.payment_intent_id = ANY($1)",
            list(self.intents),
        )
        ids = {r["id"] for r in refunds}
        posted = await self._posted([f"{r}:{step}" for r in ids for step in ("float", "release")])
        assert set(self.refund_ids) <= ids
        for r in refunds:
            # Ours, or the automatic refund of a late success.
            assert r["id"] in self.refund_ids or r["reason"] == LATE_REASON, r["id"]
            assert r["status"] == r["dsb_status"] == objects[r["id"]], r["id"]
            transfer = txs.get(r["dsb"])
            assert counts.get(r["dsb"], 0) <= 1, r["id"]
            if transfer is None:  # refused before the operator recorded anything
                assert r["status"] == "failed", r["id"]
            else:
                assert (transfer.kind, transfer.amount) == ("disbursement", r["amount"])
                assert transfer.state == r["status"], (r["id"], transfer.state, r["status"])
            succeeded = r["status"] == "succeeded"
            assert posted[f"{r['id']}:float"] == succeeded, r["id"]
            assert posted[f"{r['id']}:release"] == (not succeeded), r["id"]
            if succeeded:
                taken += r["amount"] - r["fee_returned"]
            else:
                seen("refund failed at the operator")
        # Per payment: what is refunded is what succeeded, and its fee comes back in full
        # when all of it was refunded, never more (docs/refunds.md "Ledger").
        intents = await self.owner.fetch(
            "SELECT id, amount_received, fee, amount_refunded FROM payment_intents"
            " WHERE id = ANY($1)",
            list(self.intents),
        )
        for i in intents:
            done = [r for r in refunds if r["intent"] == i["id"] and r["status"] == "succeeded"]
            refunded = sum(r["amount"] for r in done)
            returned = sum(r["fee_returned"] for r in done)
            assert i["amount_refunded"] == refunded, (i["id"], i["amount_refunded"], refunded)
            assert refunded <= i["amount_received"], i["id"]
            assert returned <= i["fee"], (i["id"], returned, i["fee"])
            if refunded == i["amount_received"]:
                # All of it, unless a part was too small to carry its share (docs/refunds.md).
                clamped = any(r["fee_returned"] == r["amount"] - 1 for r in done)
                assert returned == i["fee"] or clamped, (i["id"], returned, i["fee"])
        return taken

    async def _check_payouts(
        self,
        txs: dict[str, SimTransaction],
        counts: dict[str, int],
        objects: dict[str, str],
        *,
        live: bool,
    ) -> int:
        """Paid exactly when the operator's transfer succeeded; canceled (by the merchant or
        staff) only when our cancel or reject was answered 200, then never sent. Returns what
        was paid out."""
        model: dict[str, str | None] = dict(self.live_payouts if live else self.payouts)
        paid = 0
        payouts = await self.owner.fetch(
            "SELECT p.id, p.status, p.amount, p.livemode, p.review_status,"
            " p.cancellation_reason, d.id AS dsb, d.status AS dsb_status"
            " FROM payouts p JOIN disbursements d ON d.source_id = p.id WHERE p.id = ANY($1)",
            list(model),
        )
        assert sorted(p["id"] for p in payouts) == sorted(model)
        posted = await self._posted([f"{p}:{step}" for p in model for step in ("float", "release")])
        for p in payouts:
            said = model[p["id"]]
            assert p["livemode"] is live
            assert objects[p["id"]] == p["status"]
            transfer = txs.get(p["dsb"])
            if said in {"canceled", "rejected"} or said == "awaiting":
                assert transfer is None, (p["id"], said)
                assert posted[f"{p['id']}:float"] == 0, p["id"]
                if said == "awaiting":
                    assert (p["status"], p["review_status"]) == ("pending", "awaiting"), p["id"]
                    assert posted[f"{p['id']}:release"] == 0, p["id"]
                    continue
                reason = "rejected_by_platform" if said == "rejected" else "requested_by_merchant"
                assert (p["status"], p["cancellation_reason"]) == ("canceled", reason), p["id"]
                assert p["dsb_status"] == "canceled", p["id"]
                assert posted[f"{p['id']}:release"] == 1, p["id"]
                continue
            moved = transfer is not None and transfer.state == "succeeded"
            if transfer is not None:  # none when the account-holder check failed it first
                assert counts[p["dsb"]] == 1, p["id"]
                assert (transfer.amount, transfer.state) == (p["amount"], p["dsb_status"]), p["id"]
            assert p["status"] == ("paid" if moved else "failed"), (p["id"], p["status"], said)
            if said == "approved":
                seen(f"live payout approved, then {p['status']}")
            assert posted[f"{p['id']}:float"] == int(moved), p["id"]
            assert posted[f"{p['id']}:release"] == int(not moved), p["id"]
            if moved:
                paid += p["amount"]
        return paid


class OrderingsMachine(LedgerModel):
    """Payments, refunds and payouts through confirm, cancel and callback orderings."""

    @initialize(
        amounts=st.lists(st.integers(min_value=100, max_value=5_000), min_size=2, max_size=3),
        payers=st.lists(st.sampled_from(PAYERS), min_size=3, max_size=3),
        funded=st.integers(min_value=0, max_value=5_000),
    )
    def start(self, amounts: list[int], payers: list[str], funded: int) -> None:
        """A few intents already sent, and maybe money on the available balance."""
        for amount, payer in zip(amounts, payers, strict=False):
            self.create_intent(amount, payer, None)
        if funded >= 500:
            self.fund_balance(funded)

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


class TimeoutsAndReviewsMachine(LedgerModel):
    """Expiry, late successes, refunds failing at the operator, payout cancels racing the
    worker, and live payouts awaiting staff."""

    @initialize(
        amounts=st.lists(st.integers(min_value=100, max_value=5_000), min_size=1, max_size=2),
        payers=st.lists(st.sampled_from([*PAYERS, None]), min_size=2, max_size=2),
        funded=st.integers(min_value=0, max_value=5_000),
    )
    def start(self, amounts: list[int], payers: list[str | None], funded: int) -> None:
        """An intent or two (maybe waiting for a payment method), maybe money available."""
        for amount, payer in zip(amounts, payers, strict=False):
            self._create(amount, payer, None)
        if funded >= 500:
            self.fund_balance(funded)

    @initialize(
        over=st.integers(min_value=1, max_value=20_000),
        to=st.sampled_from(PAYOUT_DESTINATIONS),
        decision=st.sampled_from([None, "approve", "reject", "cancel"]),
    )
    def start_live(self, over: int, to: str, decision: str | None) -> None:
        """A live payout for staff in every example."""
        self.live_payout(over, to, decision)

    @precondition(lambda self: bool(self.intents))
    @rule(pick=st.integers(min_value=0, max_value=1_000))
    def expire(self, pick: int) -> None:
        """The janitor cancels an intent past `expires_at` that is not final yet; a pending
        attempt stays watched (its success, if any, is a late success)."""
        intent = self._pick(pick)
        before = self.run(self._get(f"/v1/payment_intents/{intent}"))
        self.run(self._expire(intent))
        after = self.run(self._get(f"/v1/payment_intents/{intent}"))
        if before["status"] in {"succeeded", "canceled"}:
            assert after["status"] == before["status"], (before, after)
            assert after["cancellation_reason"] == before["cancellation_reason"]
        elif before["status"] == "requires_payment_method":
            assert (after["status"], after["cancellation_reason"]) == ("canceled", "expired")
        else:  # processing: the operator's success may have landed first
            assert after["status"] in {"canceled", "succeeded"}, after
            if after["status"] == "canceled":
                assert after["cancellation_reason"] == "expired", after
                self.late_successes_possible = True
                seen("expire: processing intent canceled")

    @rule(amount=st.integers(min_value=100, max_value=5_000), payer=st.sampled_from(LATE_PAYERS))
    def late_success(self, amount: int, payer: str) -> None:
        """Magic number 08: the intent expires first, then the operator reports success."""
        created = self._create(amount, payer, 60)
        self.run(self._expire(created["id"]))
        after = self.run(self._get(f"/v1/payment_intents/{created['id']}"))
        assert (after["status"], after["cancellation_reason"]) == ("canceled", "expired"), after
        self.intents[created["id"]].late = True
        self.late_successes_possible = True

    @rule(
        amount=st.integers(min_value=100, max_value=5_000),
        payer=st.sampled_from(PHONE_PAYERS),
        refund_share=st.none() | st.integers(min_value=1, max_value=100),
    )
    def pay_on_the_phone(self, amount: int, payer: str, refund_share: int | None) -> None:
        """Magic number 13: the payer approves on the phone page; maybe a refund at once, whose
        transfer waits on that phone too (and fails unless the payer approves it in time)."""
        created = self._create(amount, payer, None)
        intent = self.intents[created["id"]]
        intent.on_phone = True
        tx = self.run(self._operator_transaction(created["latest_attempt"]["id"]))
        assert self.run(self._answer(tx, approve=True)) == "succeeded"
        self.run(self._wait_intent(intent.id, "succeeded"))
        if refund_share is not None:
            self._refund(intent, refund_share)

    @rule(approve=st.booleans())
    def payer_answers_phone(self, approve: bool) -> None:
        """The 13 wallet answers every transfer of ours waiting on its phone (a refund, a
        payout): approve, or reject (it fails; left alone, it expires and fails too)."""
        ours = self.run(self._external_ids())
        waiting = [
            tx
            for engine in (self.sims.mtn, self.sims.orange)
            for tx in list(engine.transactions.values())
            if tx.kind == "disbursement"
            and tx.state == "pending"
            and tx.awaiting_approval
            and tx.external_id in ours
        ]
        for tx in waiting:
            self.run(self._answer(tx, approve=approve))
            seen(f"transfer answered on the phone: {'approve' if approve else 'reject'}")

    # -- rules: payouts ------------------------------------------------------------------------

    @rule(
        share=st.integers(min_value=1, max_value=100),
        to=st.sampled_from([*PAYOUT_DESTINATIONS, *SLOW_DESTINATIONS]),
        after=st.sampled_from([0.0, 0.15, 0.3]),
    )
    def payout_then_cancel(self, share: int, to: str, after: float) -> None:
        """A payout canceled at once (racing the worker that hands it to the operator) or a
        little later (the worker has won: in transit, or already final)."""
        payout = self._payout(share, to)
        if payout is not None:
            self.run(asyncio.sleep(after))
            self.run(self._cancel_payout(payout, pending=None))

    @precondition(lambda self: bool(self.payouts))
    @rule(pick=st.integers(min_value=0, max_value=1_000))
    def cancel_payout(self, pick: int) -> None:
        payout = list(self.payouts)[pick % len(self.payouts)]
        current = self.run(self._get(f"/v1/payouts/{payout}"))
        self.run(self._cancel_payout(payout, pending=current["status"] == "pending"))

    @rule(
        over=st.integers(min_value=1, max_value=20_000),
        to=st.sampled_from(PAYOUT_DESTINATIONS),
        decision=st.sampled_from([None, "approve", "reject", "cancel"]),
    )
    def live_payout(self, over: int, to: str, decision: str | None) -> None:
        """A live payout above the approval threshold: reserved, and waits for staff; maybe
        decided at once."""
        amount = self.threshold + over
        short = amount - self.run(self._balance(self.live_key))["available"]
        if short > 0:  # collected and settled; 4 % more covers the 2 % fee
            self.live_funded += self.run(
                fund(self.db, self.merchant, short * 104 // 100 + 100, livemode=True)
            )
        response = self.run(
            self._post(
                "/v1/payouts",
                {"amount": amount, "currency": "XAF", "destination": {"phone": to}},
                key=self.live_key,
            )
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["review_status"], body["livemode"]) == (
            "pending",
            "awaiting",
            True,
        )
        self.live_payouts[body["id"]] = "awaiting"
        if decision is not None:
            self._review(body["id"], decision)

    @precondition(lambda self: bool(self.live_payouts))
    @rule(
        pick=st.integers(min_value=0, max_value=1_000),
        decision=st.sampled_from(["approve", "reject", "cancel"]),
    )
    def review_live_payout(self, pick: int, decision: str) -> None:
        self._review(list(self.live_payouts)[pick % len(self.live_payouts)], decision)

    def _review(self, payout: str, decision: str) -> None:
        """Staff approve or reject (`/v1/admin/payouts/{id}/…`), or the merchant cancels."""
        state = self.live_payouts[payout]
        if decision == "cancel":
            response = self.run(self._post(f"/v1/payouts/{payout}/cancel", key=self.live_key))
        else:
            path = f"/v1/admin/payouts/{payout}/{decision}"
            response = self.run(self._post(path, key=self.staff))
        if state == "awaiting":
            assert response.status_code == 200, response.text
            seen(f"live payout: {decision} while awaiting review")
            body = response.json()
            expected = {
                "approve": ("pending", "approved", None),
                "reject": ("canceled", "rejected", "rejected_by_platform"),
                "cancel": ("canceled", "awaiting", "requested_by_merchant"),
            }[decision]
            assert (body["status"], body["review_status"], body["cancellation_reason"]) == (
                expected
            ), body
            self.live_payouts[payout] = {
                "approve": "approved",
                "reject": "rejected",
                "cancel": "canceled",
            }[decision]
        elif state == "approved" and decision == "cancel" and response.status_code == 200:
            # Approved but not handed over yet: the merchant's cancel beat the worker.
            self.live_payouts[payout] = "canceled"
            seen("live payout: canceled after approval")
        else:
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "payout_unexpected_state"


def _run(machine: type[LedgerModel], examples: int, steps: int) -> None:
    case = machine.TestCase
    case.settings = hypothesis_settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        # No shrinking: each replay costs seconds of real servers, and timing makes replays go
        # other ways; the failing steps are reported and `_loud` prints the first traceback.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    case().runTest()


async def _prepare(
    api: Api,
    worker: TaskContext,
    db: Database,
    owner: asyncpg.Connection,
    sims: RunningSimulators,
    settings: Settings,
) -> None:
    """One merchant, approved for live mode, for the whole run; a staff user."""
    LedgerModel.loop = asyncio.get_running_loop()
    LedgerModel.api = api
    LedgerModel.ctx = worker
    LedgerModel.db = db
    LedgerModel.owner = owner
    LedgerModel.sims = sims
    LedgerModel.settings = settings
    LedgerModel.threshold = api.state.settings.payouts.approval_threshold
    account, live_key = await api.live_account()
    LedgerModel.key, LedgerModel.merchant = account.secret_key, account.merchant_id
    LedgerModel.live_key = live_key
    LedgerModel.staff = await api.staff()
    # Live payouts are half a million francs each: room for all of them at both operators.
    for url in (sims.mtn_url, sims.orange_url):
        async with httpx.AsyncClient(base_url=url) as sim:
            topped = await sim.put("/_sim/accounts/disbursement", json={"balance": 10**10})
            assert topped.status_code == 200, topped.text
    SEEN.clear()


async def test_orderings_keep_the_ledger_equal_to_the_simulators(
    api: Api,
    full_worker: TaskContext,
    db: Database,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    settings: Settings,
) -> None:
    await _prepare(api, full_worker, db, owner_connection, sims, settings)
    await asyncio.to_thread(_run, OrderingsMachine, 6, 12)
    print("orderings reached:", dict(sorted(SEEN.items())))


async def test_timeouts_and_reviews_keep_the_ledger_equal_to_the_simulators(
    api: Api,
    full_worker: TaskContext,
    db: Database,
    owner_connection: asyncpg.Connection,
    sims: RunningSimulators,
    settings: Settings,
) -> None:
    await _prepare(api, full_worker, db, owner_connection, sims, settings)
    await asyncio.to_thread(_run, TimeoutsAndReviewsMachine, 6, 13)
    print("timeouts and reviews reached:", dict(sorted(SEEN.items())))
