from __future__ import annotations

import datetime as dt

import asyncpg

from mboa.config import Settings
from mboa.kit.time import utc_now
from mboa.ledger import tasks
from mboa.ledger.accounts import AccountKind, merchant_account
from mboa.ledger.fees import fee_plan
from mboa.ledger.posting import Leg, Outcome, SourceType
from mboa.ledger.service import ledger
from mboa.postgres import Database
from mboa.providers.registry import ProviderRegistry
from mboa.worker import REGISTRY, TaskContext

M = "acct_01JDTASKS0000000000000001"


async def test_tasks_are_scheduled() -> None:
    assert REGISTRY["ledger.settle"].cron is not None
    assert REGISTRY["ledger.expire_pending"].cron is not None


async def test_settle_task_moves_due_collections(ledger_db: Database, settings: Settings) -> None:
    pending = merchant_account(M, False, "XAF", AccountKind.pending)
    available = merchant_account(M, False, "XAF", AccountKind.available)
    async with ledger_db.platform_transaction() as session:
        # A merchant on T+0 and one collection on the default T+1 plan.
        await fee_plan.set_plan(
            session, merchant_id=M, operator="mtn_momo", currency="XAF", percent_bps=100,
            fixed_amount=0, settlement_delay_seconds=0,
        )  # fmt: skip
        for i, operator in enumerate(("mtn_momo", "orange_money")):
            result = await ledger.post_collection(
                session, merchant_id=M, livemode=False, operator=operator, amount=1_000,
                currency="XAF", source=f"pi_task{i}", idempotency_key=f"task:{i}",
            )  # fmt: skip
            assert result.outcome is Outcome.created
    context = TaskContext(
        settings=settings, db=ledger_db, providers=ProviderRegistry(settings.providers)
    )
    assert await tasks.settle(context, {}) == 1  # only the T+0 one is due
    assert await tasks.settle(context, {}) == 0  # and only once
    async with ledger_db.platform_transaction() as session:
        assert (await ledger.balance(session, available)).balance == 990
        assert (await ledger.balance(session, pending)).balance == 980


async def test_expire_task_releases_holds(ledger_db: Database, settings: Settings) -> None:
    source = merchant_account(M, False, "XAF", AccountKind.general)
    available = merchant_account(M, False, "XAF", AccountKind.available)
    async with ledger_db.platform_transaction() as session:
        held = await ledger.transfer(
            session, idempotency_key="task:hold", legs=[Leg(source, -70), Leg(available, 70)],
            type=SourceType.adjustment, currency="XAF", livemode=False, pending=True,
            expires_at=utc_now() - dt.timedelta(seconds=1),
        )  # fmt: skip
        assert held.ok
        assert (await ledger.balance(session, available)).pending_credits == 70
    assert (
        await tasks.expire_pending(
            TaskContext(
                settings=settings, db=ledger_db, providers=ProviderRegistry(settings.providers)
            ),
            {},
        )
        == 1
    )
    async with ledger_db.platform_transaction() as session:
        assert (await ledger.balance(session, available)).pending_credits == 0
        late = await ledger.post_pending(session, held.transaction_id, idempotency_key="task:p")
        assert late.outcome is Outcome.already_resolved


async def test_settlement_walks_past_rows_it_cannot_settle(
    ledger_db: Database, settings: Settings, owner_connection: asyncpg.Connection
) -> None:
    pending = merchant_account(M, False, "XAF", AccountKind.pending)
    available = merchant_account(M, False, "XAF", AccountKind.available)
    async with ledger_db.platform_transaction() as session:
        await fee_plan.set_plan(
            session, merchant_id=M, operator="mtn_momo", currency="XAF", percent_bps=0,
            fixed_amount=100, settlement_delay_seconds=0,
        )  # fmt: skip
        # The fee takes all of it: nothing to settle, so nothing queued.
        zero = await ledger.post_collection(
            session, merchant_id=M, livemode=False, operator="mtn_momo", amount=100,
            currency="XAF", source="pi_zero", idempotency_key="task:zero",
        )  # fmt: skip
        assert zero.ok
        reversed_ = await ledger.post_collection(
            session, merchant_id=M, livemode=False, operator="mtn_momo", amount=1_100,
            currency="XAF", source="pi_rev", idempotency_key="task:rev",
        )  # fmt: skip
        assert (await ledger.reverse(session, reversed_.transaction_id, idempotency_key="r")).ok
        for i in range(3):
            due = await ledger.post_collection(
                session, merchant_id=M, livemode=False, operator="mtn_momo", amount=1_100,
                currency="XAF", source=f"pi_due{i}", idempotency_key=f"task:due{i}",
            )  # fmt: skip
            assert due.ok
    queued = await owner_connection.fetchval("SELECT count(*) FROM ledger_settlement_queue")
    assert queued == 3
    # A row the database refuses to settle (its collection was reversed), at the queue's head.
    await owner_connection.execute(
        "INSERT INTO ledger_settlement_queue"
        " SELECT id, now() - interval '1 day', merchant_id, livemode, currency, net"
        " FROM ledger_transactions WHERE id = $1",
        reversed_.transaction_id,
    )
    async with ledger_db.platform_transaction() as session:
        assert await ledger.settle_due(session, limit=1) == 3
    async with ledger_db.platform_transaction() as session:
        assert (await ledger.balance(session, available)).balance == 3_000
        assert (await ledger.balance(session, pending)).balance == 0
    # The refused row stays queued, logged on each run, for staff to look at.
    left = await owner_connection.fetch("SELECT transaction_id FROM ledger_settlement_queue")
    assert [row["transaction_id"] for row in left] == [reversed_.transaction_id]
    await owner_connection.execute("DELETE FROM ledger_settlement_queue")
