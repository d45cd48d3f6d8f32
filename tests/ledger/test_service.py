from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.config import Settings
from mboa.kit.time import utc_now
from mboa.ledger.accounts import AccountKey, AccountKind, merchant_account, platform_account
from mboa.ledger.fees import fee_plan
from mboa.ledger.posting import (
    EntryKind,
    Leg,
    Link,
    Outcome,
    Posting,
    PostingResult,
    SourceType,
    transfer_args,
)
from mboa.ledger.repository import LedgerRepository
from mboa.ledger.service import ledger
from mboa.postgres import Database
from tests.ledger.conftest import assert_verified

M = "acct_01JDTESTMERCHANT00000000001"


async def open_pair(db: Database, amount: int) -> tuple[AccountKey, dict[str, list[int]]]:
    """A merchant's available account, opened with 1 XAF from the suspense account, and the
    arguments of a direct call moving `amount` more: accounts in id order, legs aligned."""
    available = merchant_account(M, False, "XAF", AccountKind.available)
    suspense = platform_account(AccountKind.suspense, False, "XAF")
    async with db.platform_transaction() as session:
        await ledger.transfer(
            session, idempotency_key="open", legs=[Leg(available, 1), Leg(suspense, -1)],
            type=SourceType.adjustment, currency="XAF", livemode=False,
        )  # fmt: skip
    legs = sorted([(available.id, amount), (suspense.id, -amount)])
    return available, {"accounts": [a for a, _ in legs], "amounts": [x for _, x in legs]}


class TestCollection:
    async def test_collection_fee_and_settlement(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        db = ledger_db
        async with db.platform_transaction() as session:
            result = await ledger.post_collection(
                session,
                merchant_id=M,
                livemode=False,
                operator="mtn_momo",
                amount=10_000,
                currency="XAF",
                source="pi_1",
                idempotency_key="collect:pi_1",
            )
        assert result.outcome is Outcome.created
        pending = merchant_account(M, False, "XAF", AccountKind.pending)
        available = merchant_account(M, False, "XAF", AccountKind.available)
        fees = platform_account(AccountKind.fee_revenue, False, "XAF")
        float_ = platform_account(AccountKind.operator_float, False, "XAF", "mtn_momo")
        async with db.platform_transaction() as session:
            assert (await ledger.balance(session, pending)).balance == 9_800
            assert (await ledger.balance(session, fees)).balance == 200
            assert (await ledger.balance(session, float_)).balance == -10_000
            # Not due yet: nothing settles.
            assert await ledger.settle_due(session) == 0
            assert (
                await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=1, seconds=1))
                == 1
            )
        async with db.platform_transaction() as session:
            assert (await ledger.balance(session, pending)).balance == 0
            assert (await ledger.balance(session, available)).balance == 9_800
            # Settled once only.
            assert await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=2)) == 0
        await assert_verified(db, settings)

    async def test_replay_and_conflict(self, ledger_db: Database, settings: Settings) -> None:
        async with ledger_db.platform_transaction() as session:
            kwargs = {
                "merchant_id": M,
                "livemode": False,
                "operator": "mtn_momo",
                "currency": "XAF",
                "source": "pi_2",
            }
            first = await ledger.post_collection(
                session, amount=5_000, idempotency_key="k", **kwargs
            )
            again = await ledger.post_collection(
                session, amount=5_000, idempotency_key="k", **kwargs
            )
            other = await ledger.post_collection(
                session, amount=6_000, idempotency_key="k", **kwargs
            )
        assert first.outcome is Outcome.created
        assert again.outcome is Outcome.replayed
        assert again.transaction_id == first.transaction_id
        assert other.outcome is Outcome.conflict
        assert other.transaction_id == first.transaction_id
        async with ledger_db.platform_transaction() as session:
            pending = merchant_account(M, False, "XAF", AccountKind.pending)
            assert (await ledger.balance(session, pending)).balance == 4_900
        await assert_verified(ledger_db, settings)

    async def test_a_retried_collection_is_a_replay_after_its_fee_plan_changed(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        kwargs = {"merchant_id": M, "livemode": False, "currency": "XAF", "source": "pi_plan"}
        async with ledger_db.platform_transaction() as session:
            first = await ledger.post_collection(
                session, amount=5_000, operator="mtn_momo", idempotency_key="kp", **kwargs
            )
            await fee_plan.set_plan(
                session, merchant_id=M, operator="mtn_momo", currency="XAF", percent_bps=50,
                fixed_amount=25,
            )  # fmt: skip
            retried = await ledger.post_collection(
                session, amount=5_000, operator="mtn_momo", idempotency_key="kp", **kwargs
            )
            # Another collection under the same key is still a conflict.
            elsewhere = await ledger.post_collection(
                session, amount=5_000, operator="orange_money", idempotency_key="kp", **kwargs
            )
            pending = merchant_account(M, False, "XAF", AccountKind.pending)
            assert (await ledger.balance(session, pending)).balance == 4_900  # the first fee
        assert first.outcome is Outcome.created
        assert (retried.outcome, retried.transaction_id) == (Outcome.replayed, first.transaction_id)
        assert elsewhere.outcome is Outcome.conflict
        await assert_verified(ledger_db, settings)


class TestTwoPhase:
    async def _fund(self, db: Database, amount: int) -> None:
        async with db.platform_transaction() as session:
            await ledger.post_collection(
                session,
                merchant_id=M,
                livemode=False,
                operator="orange_money",
                amount=amount,
                currency="XAF",
                source="pi_f",
                idempotency_key=f"fund:{amount}",
            )
            await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=2))

    async def test_reserve_post_partial_void_expire(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        db = ledger_db
        await self._fund(db, 10_000)  # 9 800 available
        available = merchant_account(M, False, "XAF", AccountKind.available)
        reserved = merchant_account(M, False, "XAF", AccountKind.reserved)
        common = {
            "merchant_id": M,
            "livemode": False,
            "currency": "XAF",
            "purpose": SourceType.payout,
        }
        async with db.platform_transaction() as session:
            r1 = await ledger.reserve(
                session,
                amount=5_000,
                source="po_1",
                idempotency_key="r1",
                expires_at=utc_now() + dt.timedelta(hours=1),
                **common,
            )
            assert r1.outcome is Outcome.created
            too_much = await ledger.reserve(
                session,
                amount=5_000,
                source="po_2",
                idempotency_key="r2",
                expires_at=None,
                **common,
            )
            assert too_much.outcome is Outcome.exceeds_credits
            balance = await ledger.balance(session, available)
            assert (balance.balance, balance.pending_debits, balance.spendable) == (
                9_800,
                5_000,
                4_800,
            )
            posted = await ledger.post_pending(
                session, r1.transaction_id, idempotency_key="p1", amount=3_000
            )
            assert posted.outcome is Outcome.created
            twice = await ledger.void(session, r1.transaction_id, idempotency_key="v1")
            assert twice.outcome is Outcome.already_resolved
            balance = await ledger.balance(session, available)
            assert (balance.balance, balance.pending_debits) == (6_800, 0)
            assert (await ledger.balance(session, reserved)).balance == 3_000

            r3 = await ledger.reserve(
                session,
                amount=1_000,
                source="po_3",
                idempotency_key="r3",
                expires_at=utc_now() - dt.timedelta(seconds=1),
                **common,
            )
            late = await ledger.post_pending(session, r3.transaction_id, idempotency_key="p3")
            assert late.outcome is Outcome.pending_expired
            assert await ledger.expire_due(session) == 1
            balance = await ledger.balance(session, available)
            assert (balance.balance, balance.pending_debits) == (6_800, 0)

            # A failure (the void that gives a reservation back) cannot be reversed.
            r4 = await ledger.reserve(
                session, amount=500, source="po_4", idempotency_key="r4", expires_at=None, **common
            )
            failure = await ledger.void(session, r4.transaction_id, idempotency_key="v4")
            assert failure.outcome is Outcome.created
            undo = await ledger.reverse(session, failure.transaction_id, idempotency_key="u4")
            assert undo.outcome is Outcome.not_reversible
        await assert_verified(db, settings)

    async def test_reversal_at_most_once(self, ledger_db: Database, settings: Settings) -> None:
        async with ledger_db.platform_transaction() as session:
            original = await ledger.post_collection(
                session,
                merchant_id=M,
                livemode=False,
                operator="mtn_momo",
                amount=1_000,
                currency="XAF",
                source="pi_r",
                idempotency_key="c",
            )
            first = await ledger.reverse(session, original.transaction_id, idempotency_key="rev1")
            second = await ledger.reverse(session, original.transaction_id, idempotency_key="rev2")
            assert first.outcome is Outcome.created
            assert second.outcome is Outcome.already_reversed
            pending = merchant_account(M, False, "XAF", AccountKind.pending)
            assert (await ledger.balance(session, pending)).balance == 0
            # A reversed collection is no longer due for settlement.
            assert await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=3)) == 0
        await assert_verified(ledger_db, settings)

    async def test_a_settled_collection_cannot_be_reversed_nor_a_reversed_one_settled(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        pending = merchant_account(M, False, "XAF", AccountKind.pending)
        available = merchant_account(M, False, "XAF", AccountKind.available)

        async def collect(source: str, amount: int) -> str:
            async with ledger_db.platform_transaction() as session:
                result = await ledger.post_collection(
                    session, merchant_id=M, livemode=False, operator="mtn_momo", amount=amount,
                    currency="XAF", source=source, idempotency_key=f"c:{source}",
                )  # fmt: skip
            assert result.ok
            return result.transaction_id

        settled = await collect("pi_settled", 10_000)
        async with ledger_db.platform_transaction() as session:
            assert await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=2)) == 1
        # Another collection's money now sits in pending: enough to cover the reversal, which
        # must still be refused (the settled net is in available; a refund repays it).
        other = await collect("pi_other", 20_000)
        async with ledger_db.platform_transaction() as session:
            late = await ledger.reverse(session, settled, idempotency_key="rev:settled")
            assert late.outcome is Outcome.already_settled
            assert (await ledger.balance(session, pending)).balance == 19_600
            assert (await ledger.balance(session, available)).balance == 9_800

            undone = await ledger.reverse(session, other, idempotency_key="rev:other")
            assert undone.outcome is Outcome.created
            # A settlement of the reversed collection, as a racing settlement job would post it.
            settle = Posting(
                idempotency_key=f"settle:{other}", type=SourceType.settlement, currency="XAF",
                livemode=False, merchant_id=M, parent_id=other, link=Link.settle,
                legs=[Leg(pending, -19_600), Leg(available, 19_600)],
            )  # fmt: skip
            assert (await ledger.post(session, [settle]))[0].outcome is Outcome.already_reversed
            assert await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=3)) == 0
            assert (await ledger.balance(session, pending)).balance == 0
        await assert_verified(ledger_db, settings)


class TestReads:
    async def test_balance_at_a_past_instant_and_entry_pages(self, ledger_db: Database) -> None:
        source = merchant_account(M, False, "XAF", AccountKind.general)
        target = merchant_account(M, False, "XAF", AccountKind.available)
        instants = []
        for i in range(1, 6):
            async with ledger_db.platform_transaction() as session:
                result = await ledger.transfer(
                    session, idempotency_key=f"read:{i}", legs=[Leg(source, -i), Leg(target, i)],
                    type=SourceType.adjustment, currency="XAF", livemode=False,
                )  # fmt: skip
                assert result.ok
            instants.append(utc_now())
        async with ledger_db.platform_transaction() as session:
            before = await ledger.balance_at(session, target, instants[0] - dt.timedelta(hours=1))
            assert before.balance == 0
            # After the k-th transfer the balance is 1 + 2 + … + k.
            for k, instant in enumerate(instants, 1):
                assert (await ledger.balance_at(session, target, instant)).balance == k * (
                    k + 1
                ) // 2
            page, cursor = await ledger.entries(session, target, limit=2)
            assert [e.amount for e in page] == [5, 4]
            assert cursor == 4
            page, cursor = await ledger.entries(session, target, limit=2, before_version=cursor)
            assert [e.amount for e in page] == [3, 2]
            page, cursor = await ledger.entries(session, target, limit=2, before_version=cursor)
            assert [e.amount for e in page] == [1]
            assert cursor is None


class TestFeePlans:
    async def test_merchant_plan_overrides_the_default(self, ledger_db: Database) -> None:
        async with ledger_db.platform_transaction() as session:
            await fee_plan.set_plan(
                session, merchant_id=M, operator="orange_money", currency="XAF",
                percent_bps=150, fixed_amount=25, settlement_delay_seconds=0,
            )  # fmt: skip
            own = await fee_plan.plan_for(
                session, merchant_id=M, operator="orange_money", currency="XAF"
            )
            default = await fee_plan.plan_for(
                session, merchant_id="acct_other", operator="orange_money", currency="XAF"
            )
            assert (own.percent_bps, own.fixed_amount) == (150, 25)
            assert (default.percent_bps, default.fixed_amount) == (200, 0)
            # 1.5 % of 1 001 is 15.015, rounded half up to 15, plus 25 fixed.
            assert own.fee_for(1_001) == 40
            assert own.fee_for(10) == 10  # never more than the amount
            result = await ledger.post_collection(
                session, merchant_id=M, livemode=False, operator="orange_money", amount=1_001,
                currency="XAF", source="pi_fee", idempotency_key="fee:1",
            )  # fmt: skip
            row = await LedgerRepository.from_session(session).get_transaction(
                result.transaction_id
            )
            assert row is not None
            assert (row.amount, row.fee, row.net) == (1_001, 40, 961)
            # Settlement delay 0: due at once.
            assert await ledger.settle_due(session) == 1

    async def test_setting_a_plan_again_replaces_it_default_included(
        self, ledger_db: Database
    ) -> None:
        # The default plan's merchant is NULL; it is still one plan per operator and currency.
        async with ledger_db.platform_transaction() as session:
            for merchant in (None, M):
                for bps in (300, 250):
                    await fee_plan.set_plan(
                        session, merchant_id=merchant, operator="mtn_momo", currency="XAF",
                        percent_bps=bps, fixed_amount=0, settlement_delay_seconds=3_600,
                    )  # fmt: skip
            default = await fee_plan.plan_for(
                session, merchant_id="acct_other", operator="mtn_momo", currency="XAF"
            )
            own = await fee_plan.plan_for(
                session, merchant_id=M, operator="mtn_momo", currency="XAF"
            )
            count = await session.scalar(
                text("SELECT count(*) FROM ledger_fee_plans WHERE operator = 'mtn_momo'")
            )
        assert (default.percent_bps, own.percent_bps, count) == (250, 250, 2)


class TestOneStatementTransfer:
    """`mboa_ledger_write_transfer`, the path a single plain transfer takes."""

    async def test_legs_in_any_order_lock_and_write_by_account(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        available = merchant_account(M, False, "XAF", AccountKind.available)
        suspense = platform_account(AccountKind.suspense, False, "XAF")
        async with ledger_db.platform_transaction() as session:
            funded = await ledger.transfer(
                session, idempotency_key="fund", legs=[Leg(available, 700), Leg(suspense, -700)],
                type=SourceType.adjustment, currency="XAF", livemode=False,
            )  # fmt: skip
            # Called directly, with the accounts in descending order and the legs aligned with
            # them: the function does not depend on the caller sorting the accounts.
            legs = sorted([(available.id, -200), (suspense.id, 200)], reverse=True)
            answer = await session.scalar(
                text(
                    "SELECT mboa_ledger_write_transfer("
                    " :accounts, 'txn_direct', 'direct', '\\x00'::bytea, 'adjustment', NULL,"
                    " NULL, false, 'XAF', 'posted', NULL, NULL, NULL, NULL, NULL, NULL,"
                    " ARRAY[0, 0]::smallint[], :amounts)"
                ),
                {"accounts": [a for a, _ in legs], "amounts": [amount for _, amount in legs]},
            )
            assert answer == ["created", "txn_direct"]
            assert (await ledger.balance(session, available)).balance == 500
            assert (await ledger.balance(session, suspense)).balance == -500
            entries = await LedgerRepository.from_session(session).transaction_entries("txn_direct")
            assert {(entry.account, entry.amount) for entry in entries} == {
                (available, -200),
                (suspense, 200),
            }
        assert funded.outcome is Outcome.created
        await assert_verified(ledger_db, settings)

    async def test_a_concurrent_duplicate_is_answered_as_a_replay_at_once(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        # Two callers with one key at the same time: the second waits on the first's account
        # locks, then finds the key taken; its own answer (not a `retry` for the caller to
        # repeat) is the replay, since the look-up that follows takes a new snapshot.
        available, params = await open_pair(ledger_db, 5)
        call = text(
            "SELECT mboa_ledger_write_transfer(:accounts, :id, 'same-key', '\\x01'::bytea,"
            " 'adjustment', NULL, NULL, false, 'XAF', 'posted', NULL, NULL, NULL, NULL, NULL,"
            " NULL, ARRAY[0, 0]::smallint[], :amounts)"
        )

        async def second() -> list[str]:
            async with ledger_db.platform_transaction() as session:
                answer: list[str] = await session.scalar(call, {**params, "id": "txn_second"})
                return answer

        async with ledger_db.platform_transaction() as first:
            assert await first.scalar(call, {**params, "id": "txn_first"}) == [
                "created",
                "txn_first",
            ]
            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.3)
            assert not waiting.done()  # blocked on the first caller's account locks
        assert await waiting == ["replayed", "txn_first"]
        async with ledger_db.platform_transaction() as session:
            assert (await ledger.balance(session, available)).balance == 6
        await assert_verified(ledger_db, settings)

    async def test_replay_conflict_and_a_replay_the_funds_no_longer_cover(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        available = merchant_account(M, False, "XAF", AccountKind.available)
        suspense = platform_account(AccountKind.suspense, False, "XAF")

        async def move(session: AsyncSession, key: str, amount: int) -> PostingResult:
            return await ledger.transfer(
                session, idempotency_key=key, legs=[Leg(available, amount), Leg(suspense, -amount)],
                type=SourceType.adjustment, currency="XAF", livemode=False,
            )  # fmt: skip

        async with ledger_db.platform_transaction() as session:
            funded = await move(session, "fund", 700)
            spent = await move(session, "spend", -600)
            assert transfer_args(
                Posting(idempotency_key="spend", type=SourceType.adjustment, currency="XAF",
                        livemode=False, legs=[Leg(available, -600), Leg(suspense, 600)]),
                0,
            ) is not None  # fmt: skip
            # 100 left: the same spend again is a replay, not "exceeds credits"; another amount
            # under the same key is a conflict; a new key is refused for want of funds.
            replayed = await move(session, "spend", -600)
            conflict = await move(session, "spend", -50)
            refused = await move(session, "spend-more", -600)
        assert (funded.outcome, spent.outcome) == (Outcome.created, Outcome.created)
        assert (replayed.outcome, replayed.transaction_id) == (
            Outcome.replayed,
            spent.transaction_id,
        )
        assert (conflict.outcome, conflict.transaction_id) == (
            Outcome.conflict,
            spent.transaction_id,
        )
        assert refused.outcome is Outcome.exceeds_credits
        async with ledger_db.platform_transaction() as session:
            assert (await ledger.balance(session, available)).balance == 100
        await assert_verified(ledger_db, settings)

    async def test_a_hold_and_a_posted_leg_on_one_account_take_the_general_path(
        self, ledger_db: Database
    ) -> None:
        available = merchant_account(M, False, "XAF", AccountKind.available)
        suspense = platform_account(AccountKind.suspense, False, "XAF")
        posting = Posting(
            idempotency_key="mixed", type=SourceType.adjustment, currency="XAF", livemode=False,
            legs=[
                Leg(suspense, -100), Leg(available, 100),
                Leg(suspense, -50, EntryKind.hold), Leg(available, 50, EntryKind.hold),
            ],
        )  # fmt: skip
        assert transfer_args(posting, 0) is None
        async with ledger_db.platform_transaction() as session:
            [result] = await ledger.post(session, [posting])
            # A posted transaction holds nothing: the general function refuses it as a whole.
            assert result.outcome is Outcome.invalid
            assert (await ledger.balance(session, available)).balance == 0


# refunds (issue 13 point 4): one collection settled at once (a refund drawing on its funds)
class TestSettleNow:
    async def test_settles_one_collection_once_and_the_job_finds_it_done(
        self, ledger_db: Database, settings: Settings
    ) -> None:
        db = ledger_db
        async with db.platform_transaction() as session:
            first = await ledger.post_collection(
                session, merchant_id=M, livemode=False, operator="mtn_momo", amount=10_000,
                currency="XAF", source="pi_now_1", idempotency_key="collect:pi_now_1",
            )  # fmt: skip
            await ledger.post_collection(
                session, merchant_id=M, livemode=False, operator="mtn_momo", amount=5_000,
                currency="XAF", source="pi_now_2", idempotency_key="collect:pi_now_2",
            )  # fmt: skip
        pending = merchant_account(M, False, "XAF", AccountKind.pending)
        available = merchant_account(M, False, "XAF", AccountKind.available)
        async with db.platform_transaction() as session:
            settled = await ledger.settle_now(session, first.transaction_id)
            assert settled is not None
            assert settled.outcome is Outcome.created
        async with db.platform_transaction() as session:
            # Only that collection moved; the other one waits for its day.
            assert (await ledger.balance(session, available)).balance == 9_800
            assert (await ledger.balance(session, pending)).balance == 4_900
            # Not queued any more: a second call and the job leave it alone.
            assert await ledger.settle_now(session, first.transaction_id) is None
            assert await ledger.settle_due(session, now=utc_now() + dt.timedelta(days=2)) == 1
        async with db.platform_transaction() as session:
            assert (await ledger.balance(session, available)).balance == 14_700
            assert (await ledger.balance(session, pending)).balance == 0
            assert await ledger.settle_now(session, "txn_unknown") is None
        await assert_verified(db, settings)
