from __future__ import annotations

import datetime as dt

from mboa.config import Settings
from mboa.kit.time import utc_now
from mboa.ledger import tasks
from mboa.ledger.accounts import AccountKind, merchant_account
from mboa.ledger.fees import fee_plan
from mboa.ledger.posting import Leg, Outcome, SourceType
from mboa.ledger.service import ledger
from mboa.postgres import Database
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
    context = TaskContext(settings=settings, db=ledger_db)
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
    assert await tasks.expire_pending(TaskContext(settings=settings, db=ledger_db), {}) == 1
    async with ledger_db.platform_transaction() as session:
        assert (await ledger.balance(session, available)).pending_credits == 0
        late = await ledger.post_pending(session, held.transaction_id, idempotency_key="task:p")
        assert late.outcome is Outcome.already_resolved
