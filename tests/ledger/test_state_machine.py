"""Model-based test: random sequences of ledger operations against the real PostgreSQL, with a
simple in-memory model of every balance, and `ledger verify` run after every step."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from mboa.config import Settings
from mboa.kit.time import utc_now
from mboa.ledger.accounts import AccountKey, AccountKind, merchant_account, platform_account
from mboa.ledger.posting import Leg, Outcome, Posting, SourceType
from mboa.ledger.service import ledger
from mboa.postgres import Database
from tests.ledger.conftest import run_verify

T = TypeVar("T")


@dataclasses.dataclass
class Posted:
    transaction_id: str
    debit: int
    credit: int
    amount: int
    key: str


@dataclasses.dataclass
class Held:
    transaction_id: str
    debit: int
    credit: int
    amount: int
    expires_at: dt.datetime | None
    resolved: bool = False


class LedgerMachine(RuleBasedStateMachine):
    """Accounts 0-1 are flagged (never negative), 2-3 unflagged, 4 is the hot fee account."""

    loop: asyncio.AbstractEventLoop
    db: Database
    settings: Settings

    posted = Bundle("posted")
    held = Bundle("held")

    def __init__(self) -> None:
        super().__init__()
        merchant = f"acct_hyp_{uuid.uuid4().hex[:12]}"
        self.accounts: list[AccountKey] = [
            merchant_account(merchant, False, "XAF", AccountKind.available),
            merchant_account(merchant, False, "XAF", AccountKind.reserved),
            AccountKey(merchant, False, "XAF", AccountKind.general, "a"),
            AccountKey(merchant, False, "XAF", AccountKind.general, "b"),
            platform_account(AccountKind.fee_revenue, False, "XAF"),
        ]
        self.flagged = {0, 1}
        self.balance = [0] * 5
        self.pending_debits = [0] * 5
        self.pending_credits = [0] * 5
        self.base: list[tuple[int, int, int]] = [(0, 0, 0)] * 5
        self.holds: list[Held] = []

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def _balances(self) -> list[tuple[int, int, int]]:
        async with self.db.platform_transaction() as session:
            out = []
            for key in self.accounts:
                b = await ledger.balance(session, key)
                out.append((b.balance, b.pending_debits, b.pending_credits))
            return out

    @initialize()
    def read_baseline(self) -> None:
        # The hot fee account is shared by every example: the model tracks changes from here.
        self.base = self.run(self._balances())

    def _spendable(self, account: int) -> int:
        return self.balance[account] - self.pending_debits[account]

    def _transfer(self, key: str, debit: int, credit: int, amount: int) -> Outcome:
        async def go() -> Outcome:
            async with self.db.platform_transaction() as session:
                result = await ledger.transfer(
                    session,
                    idempotency_key=key,
                    legs=[Leg(self.accounts[debit], -amount), Leg(self.accounts[credit], amount)],
                    type=SourceType.transfer,
                    currency="XAF",
                    livemode=False,
                )
                self.last_id = result.transaction_id
                return result.outcome

        return self.run(go())

    @rule(
        target=posted,
        debit=st.integers(0, 4),
        credit=st.integers(0, 4),
        amount=st.integers(1, 1_000),
    )
    def transfer(self, debit: int, credit: int, amount: int) -> Any:
        if debit == credit:
            return multiple()
        key = f"t:{uuid.uuid4().hex}"
        outcome = self._transfer(key, debit, credit, amount)
        if debit in self.flagged and self._spendable(debit) < amount:
            assert outcome is Outcome.exceeds_credits
            return multiple()
        assert outcome is Outcome.created
        self.balance[debit] -= amount
        self.balance[credit] += amount
        return Posted(self.last_id, debit, credit, amount, key)

    @rule(original=posted)
    def replay(self, original: Posted) -> None:
        outcome = self._transfer(original.key, original.debit, original.credit, original.amount)
        assert outcome is Outcome.replayed
        assert self.last_id == original.transaction_id

    @rule(original=posted, delta=st.integers(1, 5))
    def conflicting_replay(self, original: Posted, delta: int) -> None:
        outcome = self._transfer(
            original.key, original.debit, original.credit, original.amount + delta
        )
        assert outcome is Outcome.conflict

    @rule(
        target=held,
        debit=st.integers(0, 3),
        credit=st.integers(0, 3),
        amount=st.integers(1, 1_000),
        expiry=st.sampled_from([None, "past", "future"]),
    )
    def hold(self, debit: int, credit: int, amount: int, expiry: str | None) -> Any:
        if debit == credit:
            return multiple()
        now = utc_now()
        expires_at = {
            None: None,
            "past": now - dt.timedelta(seconds=1),
            "future": now + dt.timedelta(hours=1),
        }[expiry]

        async def go() -> tuple[Outcome, str]:
            async with self.db.platform_transaction() as session:
                result = await ledger.transfer(
                    session,
                    idempotency_key=f"h:{uuid.uuid4().hex}",
                    legs=[Leg(self.accounts[debit], -amount), Leg(self.accounts[credit], amount)],
                    type=SourceType.payout,
                    currency="XAF",
                    livemode=False,
                    pending=True,
                    expires_at=expires_at,
                )
                return result.outcome, result.transaction_id

        outcome, transaction_id = self.run(go())
        if debit in self.flagged and self._spendable(debit) < amount:
            assert outcome is Outcome.exceeds_credits
            return multiple()
        assert outcome is Outcome.created
        self.pending_debits[debit] += amount
        self.pending_credits[credit] += amount
        held = Held(transaction_id, debit, credit, amount, expires_at)
        self.holds.append(held)
        return held

    def _release(self, held: Held) -> None:
        held.resolved = True
        self.pending_debits[held.debit] -= held.amount
        self.pending_credits[held.credit] -= held.amount

    @rule(held=held, data=st.data())
    def post(self, held: Held, data: st.DataObject) -> None:
        amount = data.draw(st.integers(1, held.amount))

        async def go() -> Outcome:
            async with self.db.platform_transaction() as session:
                result = await ledger.post_pending(
                    session,
                    held.transaction_id,
                    idempotency_key=f"p:{uuid.uuid4().hex}",
                    amount=amount,
                )
                return result.outcome

        outcome = self.run(go())
        if held.resolved:
            assert outcome is Outcome.already_resolved
        elif held.expires_at is not None and held.expires_at <= utc_now():
            assert outcome is Outcome.pending_expired
        else:
            assert outcome is Outcome.created
            self._release(held)
            self.balance[held.debit] -= amount
            self.balance[held.credit] += amount

    @rule(held=held)
    def void(self, held: Held) -> None:
        async def go() -> Outcome:
            async with self.db.platform_transaction() as session:
                result = await ledger.void(
                    session, held.transaction_id, idempotency_key=f"v:{uuid.uuid4().hex}"
                )
                return result.outcome

        outcome = self.run(go())
        if held.resolved:
            assert outcome is Outcome.already_resolved
        else:
            assert outcome is Outcome.created
            self._release(held)

    @rule()
    def expire(self) -> None:
        async def go() -> None:
            async with self.db.platform_transaction() as session:
                await ledger.expire_due(session, now=utc_now())

        self.run(go())
        now = utc_now()
        for held in self.holds:
            if not held.resolved and held.expires_at is not None and held.expires_at <= now:
                self._release(held)

    @rule(original=consumes(posted))
    def reverse(self, original: Posted) -> None:
        async def go(key: str) -> Outcome:
            async with self.db.platform_transaction() as session:
                result = await ledger.reverse(session, original.transaction_id, idempotency_key=key)
                return result.outcome

        outcome = self.run(go(f"r:{uuid.uuid4().hex}"))
        if original.credit in self.flagged and self._spendable(original.credit) < original.amount:
            assert outcome is Outcome.exceeds_credits
            return
        assert outcome is Outcome.created
        self.balance[original.credit] -= original.amount
        self.balance[original.debit] += original.amount
        # A second reversal is refused.
        assert self.run(go(f"r:{uuid.uuid4().hex}")) is Outcome.already_reversed

    @rule(amounts=st.lists(st.integers(1, 300), min_size=2, max_size=6))
    def batch(self, amounts: list[int]) -> None:
        """Several transfers out of a flagged account in one call: each succeeds or fails alone."""
        postings = [
            Posting(
                idempotency_key=f"b:{uuid.uuid4().hex}",
                type=SourceType.transfer,
                currency="XAF",
                livemode=False,
                legs=[Leg(self.accounts[0], -amount), Leg(self.accounts[2], amount)],
            )
            for amount in amounts
        ]

        async def go() -> list[Outcome]:
            async with self.db.platform_transaction() as session:
                return [r.outcome for r in await ledger.post(session, postings)]

        outcomes = self.run(go())
        for amount, outcome in zip(amounts, outcomes, strict=True):
            if self._spendable(0) < amount:
                assert outcome is Outcome.exceeds_credits
            else:
                assert outcome is Outcome.created
                self.balance[0] -= amount
                self.balance[2] += amount

    @invariant()
    def balances_match_the_model_and_verify_passes(self) -> None:
        actual = self.run(self._balances())
        expected = [
            (b0 + b, d0 + d, c0 + c)
            for (b0, d0, c0), b, d, c in zip(
                self.base, self.balance, self.pending_debits, self.pending_credits, strict=True
            )
        ]
        assert actual == expected
        report = self.run(run_verify(self.db, self.settings))
        assert report.ok, report.render()


def _run_machine(database_url: str, app_settings: Settings) -> None:
    loop = asyncio.new_event_loop()
    db = Database.connect(app_settings, database_url, process="hypothesis")
    LedgerMachine.loop, LedgerMachine.db, LedgerMachine.settings = loop, db, app_settings
    try:
        machine = LedgerMachine.TestCase
        machine.settings = settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        machine().runTest()
    finally:
        loop.run_until_complete(db.dispose())
        loop.close()


async def test_ledger_state_machine(
    ledger_db: Database, database_url: str, settings: Settings
) -> None:
    # Hypothesis drives the machine synchronously: it runs in a thread with its own event loop.
    await asyncio.to_thread(_run_machine, database_url, settings)
