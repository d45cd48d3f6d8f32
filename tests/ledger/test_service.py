from __future__ import annotations

import datetime as dt

from mboa.config import Settings
from mboa.kit.time import utc_now
from mboa.ledger.accounts import AccountKind, merchant_account, platform_account
from mboa.ledger.posting import Outcome, SourceType
from mboa.ledger.service import ledger
from mboa.postgres import Database
from tests.ledger.conftest import assert_verified

M = "acct_01JDTESTMERCHANT00000000001"


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
