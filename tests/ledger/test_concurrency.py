"""32 concurrent writers: one hot account, A⇄B ping-pong, multi-leg transfers in random leg order,
and the same idempotency key from every writer at once. No error may reach a caller, the
invariants hold and every franc is accounted for."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mboa.config import DatabaseSettings, Settings
from mboa.ledger.accounts import AccountKey, AccountKind, merchant_account, platform_account
from mboa.ledger.exceptions import LedgerBusy
from mboa.ledger.posting import Leg, Outcome, PostingResult, SourceType
from mboa.ledger.service import ledger
from mboa.postgres import Database
from tests.ledger.conftest import assert_verified

WORKERS = 32
ROUNDS = 25


@pytest.fixture
async def wide_db(
    ledger_db: Database, database_url: str, settings: Settings
) -> AsyncIterator[Database]:
    """A pool big enough for 32 concurrent transactions."""
    wide = settings.model_copy(
        update={"database": DatabaseSettings(pool_size=WORKERS + 4, max_overflow=0)}
    )
    db = Database.connect(wide, database_url, process="concurrency")
    yield db
    await db.dispose()


async def transfer(db: Database, key: str, legs: list[Leg]) -> PostingResult:
    async with db.platform_transaction() as session:
        return await ledger.transfer(
            session, idempotency_key=key, legs=legs, type=SourceType.transfer, currency="XAF",
            livemode=False,
        )  # fmt: skip


async def run_workers(work: Callable[[int], Awaitable[None]]) -> None:
    # gather without return_exceptions: any exception in any worker fails the test.
    await asyncio.gather(*(work(worker) for worker in range(WORKERS)))


async def balance(db: Database, key: AccountKey) -> int:
    async with db.platform_transaction() as session:
        return (await ledger.balance(session, key)).balance


def general(name: str) -> AccountKey:
    return AccountKey("acct_concurrency", False, "XAF", AccountKind.general, name)


async def test_hot_account(wide_db: Database, settings: Settings) -> None:
    hot = platform_account(AccountKind.fee_revenue, False, "XAF")
    before = await balance(wide_db, hot)
    sent = [0] * WORKERS

    async def work(worker: int) -> None:
        for _ in range(ROUNDS):
            amount = random.randint(1, 100)
            result = await transfer(
                wide_db, uuid.uuid4().hex, [Leg(general(f"w{worker}"), -amount), Leg(hot, amount)]
            )
            assert result.outcome is Outcome.created
            sent[worker] += amount

    await run_workers(work)
    assert await balance(wide_db, hot) - before == sum(sent)
    for worker in range(WORKERS):
        assert await balance(wide_db, general(f"w{worker}")) == -sent[worker]
    await assert_verified(wide_db, settings)


async def test_ping_pong(wide_db: Database, settings: Settings) -> None:
    a = merchant_account("acct_ping", False, "XAF", AccountKind.available)
    b = merchant_account("acct_pong", False, "XAF", AccountKind.available)
    source = general("funding")
    for account in (a, b):
        assert (
            await transfer(wide_db, uuid.uuid4().hex, [Leg(source, -1_000), Leg(account, 1_000)])
        ).ok
    moved = {"ab": 0, "ba": 0}
    outcomes: set[Outcome] = set()

    async def work(worker: int) -> None:
        forward = worker % 2 == 0
        for _ in range(ROUNDS):
            amount = random.randint(1, 150)
            debit, credit = (a, b) if forward else (b, a)
            result = await transfer(
                wide_db, uuid.uuid4().hex, [Leg(debit, -amount), Leg(credit, amount)]
            )
            outcomes.add(result.outcome)
            assert result.outcome in (Outcome.created, Outcome.exceeds_credits)
            if result.outcome is Outcome.created:
                moved["ab" if forward else "ba"] += amount

    await run_workers(work)
    final_a, final_b = await balance(wide_db, a), await balance(wide_db, b)
    assert final_a + final_b == 2_000
    assert final_a == 1_000 - moved["ab"] + moved["ba"]
    assert min(final_a, final_b) >= 0
    assert Outcome.created in outcomes
    await assert_verified(wide_db, settings)


async def test_multi_leg_random_order(wide_db: Database, settings: Settings) -> None:
    """Legs are given in random order; locks are still taken in one order (no deadlock)."""
    names = [f"m{i}" for i in range(5)]

    async def work(worker: int) -> None:
        for _ in range(ROUNDS):
            chosen = random.sample(names, 3)
            amount = random.randint(1, 50)
            legs = [
                Leg(general(chosen[0]), -2 * amount),
                Leg(general(chosen[1]), amount),
                Leg(general(chosen[2]), amount),
            ]
            random.shuffle(legs)
            result = await transfer(wide_db, uuid.uuid4().hex, legs)
            assert result.outcome is Outcome.created

    await run_workers(work)
    total = sum([await balance(wide_db, general(name)) for name in names])
    assert total == 0
    await assert_verified(wide_db, settings)


async def test_same_key_from_every_worker(wide_db: Database, settings: Settings) -> None:
    key = f"same:{uuid.uuid4().hex}"
    results: list[PostingResult] = []

    async def work(worker: int) -> None:
        results.append(
            await transfer(wide_db, key, [Leg(general("x"), -10), Leg(general("y"), 10)])
        )

    await run_workers(work)
    assert sorted(r.outcome for r in results).count(Outcome.created) == 1
    assert {r.outcome for r in results} <= {Outcome.created, Outcome.replayed}
    assert len({r.transaction_id for r in results}) == 1
    assert await balance(wide_db, general("y")) == 10
    await assert_verified(wide_db, settings)


async def test_separate_calls_that_deadlock_surface_as_busy_and_roll_back_whole(
    wide_db: Database, settings: Settings
) -> None:
    """The caveat of docs/ledger.md ("One global lock order"): the order holds per call, so two
    transactions that each make two calls, on accounts in opposite orders, can deadlock.
    PostgreSQL breaks the cycle; the victim gets `LedgerBusy` (retryable, HTTP 503) and its
    transaction rolls back whole, the other commits, and the victim's retry succeeds."""
    run = uuid.uuid4().hex[:8]
    a, b = general(f"dl_a_{run}"), general(f"dl_b_{run}")
    counterparts = [general(f"dl_{me}_{step}_{run}") for me in (0, 1) for step in (0, 1)]
    # Every account exists before the race, so the transactions meet on the accounts' row locks
    # (not on opening the same new accounts).
    opened = await transfer(
        wide_db, f"dl:{run}:open",
        [Leg(a, -2), Leg(b, -2), *(Leg(account, 1) for account in counterparts)],
    )  # fmt: skip
    assert opened.outcome is Outcome.created
    first_call_done = [asyncio.Event(), asyncio.Event()]

    async def two_calls(me: int, first: AccountKey, second: AccountKey) -> None:
        async with wide_db.platform_transaction() as session:
            for step, account in enumerate((first, second)):
                if step == 1:
                    first_call_done[me].set()
                    await first_call_done[1 - me].wait()
                result = await ledger.transfer(
                    session, idempotency_key=f"dl:{run}:{me}:{step}", type=SourceType.transfer,
                    legs=[Leg(account, -1), Leg(general(f"dl_{me}_{step}_{run}"), 1)],
                    currency="XAF", livemode=False,
                )  # fmt: skip
                assert result.outcome is Outcome.created

    outcomes = await asyncio.gather(two_calls(0, a, b), two_calls(1, b, a), return_exceptions=True)
    busy = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, LedgerBusy)]
    assert len(busy) == 1, outcomes
    [victim] = busy
    assert outcomes[1 - victim] is None
    # Nothing of the victim's first call survived: its counterpart holds only the opening franc.
    assert await balance(wide_db, general(f"dl_{victim}_0_{run}")) == 1
    await two_calls(victim, *((a, b) if victim == 0 else (b, a)))
    assert await balance(wide_db, a) == -4
    assert await balance(wide_db, b) == -4
    for account in counterparts:
        assert await balance(wide_db, account) == 2
    await assert_verified(wide_db, settings)
