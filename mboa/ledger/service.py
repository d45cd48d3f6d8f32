"""The ledger's service API: what the payment lifecycle calls (docs/ledger.md, "Service API").

Every method takes the caller's session (platform role, in the caller's transaction: the ledger
writes commit or roll back with the caller's other changes) and an idempotency key chosen by the
caller. Methods return a `PostingResult`; `outcome` says whether it was created, replayed, or
refused (insufficient funds, conflicting replay, already resolved, …). Nothing here commits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypedDict

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.time import utc_now
from mboa.ledger import write_repository as writes
from mboa.ledger.accounts import (
    AccountKey,
    AccountKind,
    merchant_account,
    platform_account,
    shards_of,
)
from mboa.ledger.exceptions import BalanceTransactionNotFound, LedgerError
from mboa.ledger.fees import fee_plan
from mboa.ledger.posting import (
    BalanceTransactionType,
    EntryKind,
    Leg,
    Link,
    Outcome,
    Phase,
    Posting,
    PostingResult,
    SourceType,
    new_transaction_id,
)
from mboa.ledger.repository import EntryRow, LedgerRepository
from mboa.models import LedgerAccount, LedgerEntry, LedgerTransaction

log = structlog.get_logger("mboa.ledger")


@dataclasses.dataclass(frozen=True, slots=True)
class SettlementBatch:
    read: int
    """Queue rows read (due collections looked at)."""
    settled: int
    last: tuple[dt.datetime, str] | None
    """Where the next batch starts: (available_on, transaction_id) of the last row read."""


@dataclasses.dataclass(frozen=True, slots=True)
class Draw:
    """What `draw_pending` made spendable, and when it would have settled (None: it was due)."""

    amount: int
    until: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class Balance:
    balance: int
    """Posted."""
    pending_debits: int
    pending_credits: int
    version: int
    """Sum of the versions of the account's shards (a change counter)."""

    @property
    def spendable(self) -> int:
        return self.balance - self.pending_debits


@dataclasses.dataclass(frozen=True, slots=True)
class MerchantBalance:
    currency: str
    available: int
    pending: int
    reserved: int


@dataclasses.dataclass(frozen=True, slots=True)
class BalanceTransactionView:
    transaction: LedgerTransaction
    status: str


class LedgerService:
    # ── writing ─────────────────────────────────────────────────────────────────────────────

    async def post(self, session: AsyncSession, postings: Sequence[Posting]) -> list[PostingResult]:
        """Write a batch of postings in one round trip (each posting succeeds or fails alone)."""
        return await writes.apply(writes.SessionExecutor(session), postings)

    async def transfer(
        self,
        session: AsyncSession,
        *,
        idempotency_key: str,
        legs: Sequence[Leg],
        type: str,
        currency: str,
        livemode: bool,
        merchant_id: str | None = None,
        source: str | None = None,
        pending: bool = False,
        expires_at: dt.datetime | None = None,
        description: str | None = None,
    ) -> PostingResult:
        """A generic transfer (single-phase, or the pending step of a two-phase one)."""
        kind = EntryKind.hold if pending else EntryKind.posted
        posting = Posting(
            idempotency_key=idempotency_key,
            type=type,
            currency=currency,
            livemode=livemode,
            legs=[Leg(leg.account, leg.amount, kind) for leg in legs],
            phase=Phase.pending if pending else Phase.posted,
            source=source,
            merchant_id=merchant_id,
            expires_at=expires_at,
            description=description,
        )
        return (await self.post(session, [posting]))[0]

    async def post_collection(
        self,
        session: AsyncSession,
        *,
        merchant_id: str,
        livemode: bool,
        operator: str,
        amount: int,
        currency: str,
        source: str,
        idempotency_key: str,
        now: dt.datetime | None = None,
    ) -> PostingResult:
        """A successful collection: the operator float is debited by `amount`, the merchant's
        pending balance credited with the net, fee revenue with the fee of the merchant's plan.
        The net becomes available after the plan's settlement delay (`settle_due`)."""
        if amount <= 0:
            raise LedgerError("amount must be positive")
        plan = await fee_plan.plan_for(
            session, merchant_id=merchant_id, operator=operator, currency=currency
        )
        fee = plan.fee_for(amount)
        net = amount - fee
        posting = Posting(
            idempotency_key=idempotency_key,
            type=SourceType.payment,
            currency=currency,
            livemode=livemode,
            merchant_id=merchant_id,
            source=source,
            legs=[
                Leg(
                    platform_account(AccountKind.operator_float, livemode, currency, operator),
                    -amount,
                ),
                Leg(merchant_account(merchant_id, livemode, currency, AccountKind.pending), net),
                Leg(platform_account(AccountKind.fee_revenue, livemode, currency), fee),
            ],
            bt_type=BalanceTransactionType.payment,
            amount=amount,
            fee=fee,
            net=net,
            available_on=(now or utc_now()) + dt.timedelta(seconds=plan.settlement_delay_seconds),
            metadata={"operator": operator, "fee_percent_bps": str(plan.percent_bps)},
        )
        result = (await self.post(session, [posting]))[0]
        if result.outcome is Outcome.conflict:
            # The fee and net come from the plan as it is now: if the plan changed between the
            # first call and its retry, the same collection computes other amounts. What the
            # caller asked for (who, how much, from which operator, for what) decides.
            original = await LedgerRepository.from_session(session).get_by_key(idempotency_key)
            if original is not None and (
                original.type,
                original.merchant_id,
                original.livemode,
                original.currency.strip(),
                original.amount,
                original.source,
                (original.metadata_ or {}).get("operator"),
            ) == (SourceType.payment, merchant_id, livemode, currency, amount, source, operator):
                return PostingResult(Outcome.replayed, original.id)
        return result

    async def reserve(
        self,
        session: AsyncSession,
        *,
        merchant_id: str,
        livemode: bool,
        amount: int,
        currency: str,
        purpose: SourceType,
        source: str,
        idempotency_key: str,
        expires_at: dt.datetime | None,
    ) -> PostingResult:
        """Two-phase, first step: hold `amount` of the merchant's available balance for a payout
        or refund in flight (available → reserved). Then `post_pending` (the operator accepted) or
        `void` (it failed); past `expires_at` the expiry job voids it."""
        if purpose not in (SourceType.payout, SourceType.refund) or amount <= 0:
            raise LedgerError("reserve is for a positive payout or refund amount")
        posting = Posting(
            idempotency_key=idempotency_key,
            type=purpose,
            currency=currency,
            livemode=livemode,
            merchant_id=merchant_id,
            source=source,
            phase=Phase.pending,
            expires_at=expires_at,
            legs=[
                Leg(
                    merchant_account(merchant_id, livemode, currency, AccountKind.available),
                    -amount,
                    EntryKind.hold,
                ),
                Leg(
                    merchant_account(merchant_id, livemode, currency, AccountKind.reserved),
                    amount,
                    EntryKind.hold,
                ),
            ],
            bt_type=BalanceTransactionType(purpose.value),
            amount=-amount,
            fee=0,
            net=-amount,
        )
        return (await self.post(session, [posting]))[0]

    async def post_pending(
        self,
        session: AsyncSession,
        pending_id: str,
        *,
        idempotency_key: str,
        amount: int | None = None,
    ) -> PostingResult:
        """Post a pending transfer in full, or `amount` of it (the rest is released).

        Partial amounts are applied to every leg in proportion when the pending has more than two
        legs; with two legs (the usual case) each side posts exactly `amount`."""
        pending, holds = await self._pending(session, pending_id)
        held = sum(row.amount for row in holds if row.amount > 0)
        posted_amount = held if amount is None else amount
        if not 0 < posted_amount <= held:
            raise LedgerError("amount must be positive and at most the pending amount")
        legs = [Leg(row.account, row.amount, EntryKind.release) for row in holds]
        legs += self._scaled(holds, posted_amount, held)
        remainder = held - posted_amount
        merchant_bt = pending.merchant_id is not None and pending.bt_type is not None
        posting = Posting(
            idempotency_key=idempotency_key,
            type=pending.type,
            currency=pending.currency,
            livemode=pending.livemode,
            merchant_id=pending.merchant_id,
            source=pending.source,
            phase=Phase.post,
            parent_id=pending.id,
            link=Link.resolve,
            legs=legs,
            # The reservation already took the full amount from the merchant's available
            # balance; a partial post gives the rest back, which the merchant sees.
            **_shown(
                BalanceTransactionType.adjustment if merchant_bt and remainder else None, remainder
            ),
        )
        return (await self.post(session, [posting]))[0]

    async def void(
        self,
        session: AsyncSession,
        pending_id: str,
        *,
        idempotency_key: str,
        expire: bool = False,
    ) -> PostingResult:
        """Release a pending transfer (the payout or refund failed). `expire=True` is the expiry
        job's variant, accepted only once `expires_at` has passed."""
        pending, holds = await self._pending(session, pending_id)
        return (
            await self.post(session, [self._void_posting(pending, holds, idempotency_key, expire)])
        )[0]

    async def reverse(
        self,
        session: AsyncSession,
        transaction_id: str,
        *,
        idempotency_key: str,
        description: str | None = None,
    ) -> PostingResult:
        """Undo a posted transaction exactly (its legs negated), at most once.

        A collection can be reversed while its net is still pending; after settlement use a
        refund or an adjustment from the available balance instead (the reversal would be
        refused with `exceeds_credits`)."""
        original = await LedgerRepository.from_session(session).get_transaction(transaction_id)
        if original is None:
            raise BalanceTransactionNotFound(f"No such transaction: '{transaction_id}'")
        if original.phase not in (Phase.posted, Phase.post):
            # A pending, void or expiry has no posted legs to negate: the database would only
            # see an empty transfer (`invalid`). Say what is wrong instead; nothing is written.
            return PostingResult(Outcome.not_reversible, new_transaction_id())
        rows = await LedgerRepository.from_session(session).transaction_entries(transaction_id)
        legs = [Leg(row.account, -row.amount) for row in rows if row.kind == EntryKind.posted]
        visible_type = (
            BalanceTransactionType(original.bt_type)
            if original.bt_type is not None and original.amount is not None
            else None
        )
        visible = visible_type is not None
        posting = Posting(
            idempotency_key=idempotency_key,
            type=SourceType.reversal,
            currency=original.currency,
            livemode=original.livemode,
            merchant_id=original.merchant_id,
            source=original.source,
            parent_id=original.id,
            link=Link.reverse,
            legs=legs,
            bt_type=visible_type.reversed() if visible_type else None,
            amount=-(original.amount or 0) if visible else None,
            fee=-(original.fee or 0) if visible else None,
            net=-(original.net or 0) if visible else None,
            description=description,
        )
        return (await self.post(session, [posting]))[0]

    async def expire_due(
        self, session: AsyncSession, *, now: dt.datetime | None = None, limit: int = 500
    ) -> int:
        """Void every pending transfer whose expiry has passed (the scheduled job calls this)."""
        repository = LedgerRepository.from_session(session)
        postings = []
        for pending_id in await repository.due_pendings(now or utc_now(), limit):
            pending, holds = await self._pending(session, pending_id)
            postings.append(self._void_posting(pending, holds, f"expire:{pending_id}", True))
        results = await self.post(session, postings)
        return sum(1 for result in results if result.ok)

    async def settle_due(
        self,
        session: AsyncSession | Callable[[], AbstractAsyncContextManager[AsyncSession]],
        *,
        now: dt.datetime | None = None,
        limit: int = 1000,
    ) -> int:
        """Move every collection whose `available_on` has passed from pending to available, in
        batches of `limit`; returns how many were settled.

        `session`: all batches in the caller's transaction, or a factory of transactions (the
        scheduled job passes `platform_transaction`) so that each batch commits on its own. The
        walk goes through the queue in order, past the rows it cannot settle (`settle_batch`)."""
        now = now or utc_now()
        settled, after = 0, None
        while True:
            transaction = _joined(session) if isinstance(session, AsyncSession) else session()
            async with transaction as batch_session:
                batch = await self.settle_batch(batch_session, now=now, limit=limit, after=after)
            settled += batch.settled
            if batch.read < limit:
                return settled
            after = batch.last

    async def settle_batch(
        self,
        session: AsyncSession,
        *,
        now: dt.datetime,
        limit: int,
        after: tuple[dt.datetime, str] | None = None,
    ) -> SettlementBatch:
        """Settle up to `limit` due collections, in queue order from just after `after`.

        A refused settlement (logged) stays queued and is tried again on the next run; the walk
        goes on past it, so it never holds back the collections behind it."""
        rows = await LedgerRepository.from_session(session).due_settlements(now, limit, after)
        postings = [_settlement(row) for row in rows if row.amount > 0]
        results = await self.post(session, postings)
        for posting, result in zip(postings, results, strict=True):
            if not result.ok:
                log.warning(
                    "settlement_refused", transaction=posting.parent_id, outcome=result.outcome
                )
        return SettlementBatch(
            read=len(rows),
            settled=sum(1 for result in results if result.ok),
            last=(rows[-1].available_on, rows[-1].transaction_id) if rows else None,
        )

    async def settle_now(self, session: AsyncSession, transaction_id: str) -> PostingResult | None:
        """Settle one collection at once, before its `available_on`: its net moves from pending
        to available, exactly as the settlement job would move it (same posting, same key, so
        the job later finds it settled). None when it is not waiting in the queue (settled,
        reversed, or a zero net). A refund draws on its payment's pending funds this way
        (docs/refunds.md, "Funding")."""
        row = await LedgerRepository.from_session(session).settlement_of(transaction_id)
        if row is None or row.amount <= 0:
            return None
        return (await self.post(session, [_settlement(row)]))[0]

    async def draw_pending(
        self, session: AsyncSession, transaction_id: str, *, amount: int, idempotency_key: str
    ) -> Draw | None:
        """Make up to `amount` of one collection's net that still waits in pending spendable
        now, and no more: the rest stays unspendable until the collection's `available_on`.
        A refund draws on its own payment's pending funds this way (docs/refunds.md,
        "Funding"). None when the collection has nothing pending left to draw.

        No partial settlement exists (a collection settles once, in full: `mboa ledger verify`
        checks 13 to 15), so the collection is settled now and the rest of its net is put back
        under a hold — available → pending, two-phase, expiring at the collection's
        `available_on` (`defer`). The hold keeps it out of the spendable balance and shows it as
        pending; the expiry job releases it when the settlement would have. A later draw on the
        same collection releases that hold and holds back what is left of it."""
        if amount <= 0:
            return None
        repository = LedgerRepository.from_session(session)
        now = utc_now()
        row = await repository.settlement_of(transaction_id)
        if row is not None and row.amount > 0:
            drawn = min(amount, row.amount)
            until = row.available_on if row.available_on > now else None
            postings = [_settlement(row)]
            if until is not None and row.amount > drawn:
                postings.append(
                    _deferral(
                        row.merchant_id,
                        row.livemode,
                        row.currency,
                        row.amount - drawn,
                        until,
                        transaction_id,
                        f"{idempotency_key}:defer",
                    )
                )
        else:
            postings, drawn, until = await self._redraw(
                session, transaction_id, amount, idempotency_key
            )
            if not postings:
                return None
        for result in await self.post(session, postings):
            if not result.ok:
                # The settlement and the hold stand or fall together; the caller rolls back.
                raise LedgerError(f"draw on {transaction_id} refused: {result.outcome}")
        return Draw(drawn, until)

    async def _redraw(
        self, session: AsyncSession, transaction_id: str, amount: int, idempotency_key: str
    ) -> tuple[list[Posting], int, dt.datetime | None]:
        """Release the open deferrals of a settled collection and hold back what is left."""
        postings: list[Posting] = []
        held, until, key = 0, None, None
        for number, pending_id in enumerate(
            await LedgerRepository.from_session(session).open_deferrals(transaction_id)
        ):
            pending, holds = await self._pending(session, pending_id)
            held += sum(row.amount for row in holds if row.amount > 0)
            expires_at = pending.expires_at or utc_now()
            until = expires_at if until is None else max(until, expires_at)
            key = merchant_account(
                pending.merchant_id or "", pending.livemode, pending.currency, AccountKind.pending
            )
            postings.append(
                self._void_posting(pending, holds, f"{idempotency_key}:release:{number}", False)
            )
        if not postings or until is None or key is None:
            return [], 0, None
        drawn = min(amount, held)
        if held > drawn:
            postings.append(
                _deferral(
                    key.merchant_id or "",
                    key.livemode,
                    key.currency,
                    held - drawn,
                    until,
                    transaction_id,
                    f"{idempotency_key}:defer",
                )
            )
        return postings, drawn, until

    async def defer(
        self,
        session: AsyncSession,
        *,
        transaction_id: str,
        merchant_id: str,
        livemode: bool,
        currency: str,
        amount: int,
        until: dt.datetime,
        idempotency_key: str,
    ) -> PostingResult:
        """Hold `amount` of the merchant's available balance back as pending until `until`, for
        the collection `transaction_id` (see `draw_pending`): a failed refund gives back what
        it drew on its payment's pending funds this way."""
        posting = _deferral(
            merchant_id, livemode, currency, amount, until, transaction_id, idempotency_key
        )
        return (await self.post(session, [posting]))[0]

    # ── reading ─────────────────────────────────────────────────────────────────────────────

    async def balance(self, session: AsyncSession, key: AccountKey) -> Balance:
        """Current balance in O(1): one row (or the fixed number of shards of a hot account)."""
        rows = await LedgerRepository.from_session(session).accounts([k.id for k in shards_of(key)])
        return _sum(rows)

    async def balance_at(self, session: AsyncSession, key: AccountKey, at: dt.datetime) -> Balance:
        """The balance as it was at `at` (binary search on each shard's version chain)."""
        repository = LedgerRepository.from_session(session)
        parts = [await repository.balance_at(k.id, at) for k in shards_of(key)]
        return Balance(*(sum(part[i] for part in parts) for i in range(4)))

    async def entries(
        self,
        session: AsyncSession,
        key: AccountKey,
        *,
        limit: int = 100,
        before_version: int | None = None,
    ) -> tuple[list[LedgerEntry], int | None]:
        """Entries of one physical account, newest first; returns (page, next cursor)."""
        rows = await LedgerRepository.from_session(session).entries(
            key.id, before_version=before_version, limit=limit + 1
        )
        page = rows[:limit]
        return page, (page[-1].version if len(rows) > limit else None)

    async def merchant_balances(self, session: AsyncSession) -> list[MerchantBalance]:
        """The tenant's balances per currency (row-level security scopes the rows)."""
        rows = await LedgerRepository.from_session(session).merchant_accounts()
        by_currency: dict[str, dict[str, int]] = {}
        for row in rows:
            totals = by_currency.setdefault(
                row.currency, {"available": 0, "pending": 0, "reserved": 0}
            )
            if row.kind == AccountKind.available:
                totals["available"] += row.balance - row.pending_debits
            elif row.kind == AccountKind.pending:
                # Pending credits: collected money held back until its settlement time after a
                # refund drew on it (`draw_pending`).
                totals["pending"] += row.balance - row.pending_debits + row.pending_credits
            elif row.kind == AccountKind.reserved:
                totals["reserved"] += row.balance + row.pending_credits
        return [
            MerchantBalance(currency, **totals) for currency, totals in sorted(by_currency.items())
        ]

    async def list_balance_transactions(
        self,
        session: AsyncSession,
        params: ListParams,
        *,
        type_: str | None = None,
        source: str | None = None,
        created: CreatedRange | None = None,
    ) -> tuple[list[BalanceTransactionView], bool]:
        repository = LedgerRepository.from_session(session)
        statement = repository.balance_transactions_statement(
            type_=type_, source=source, created=created
        )
        rows, has_more = await repository.paginate(statement, params)
        closed = await repository.closed([row.id for row in rows])
        return [BalanceTransactionView(row, _status(row, closed)) for row in rows], has_more

    async def get_balance_transaction(
        self, session: AsyncSession, transaction_id: str
    ) -> BalanceTransactionView:
        repository = LedgerRepository.from_session(session)
        row = await repository.get_one_or_none(
            repository.balance_transactions_statement().where(
                LedgerTransaction.id == transaction_id
            )
        )
        if row is None:
            raise BalanceTransactionNotFound(
                f"No such balance transaction: '{transaction_id}'", param="id"
            )
        return BalanceTransactionView(row, _status(row, await repository.closed([row.id])))

    # ── helpers ─────────────────────────────────────────────────────────────────────────────

    async def _pending(
        self, session: AsyncSession, pending_id: str
    ) -> tuple[LedgerTransaction, list[EntryRow]]:
        repository = LedgerRepository.from_session(session)
        pending = await repository.get_transaction(pending_id)
        if pending is None or pending.phase != Phase.pending:
            raise BalanceTransactionNotFound(f"No such pending transfer: '{pending_id}'")
        holds = [
            row
            for row in await repository.transaction_entries(pending_id)
            if row.kind == EntryKind.hold
        ]
        return pending, holds

    @staticmethod
    def _scaled(holds: list[EntryRow], amount: int, held: int) -> list[Leg]:
        """Posted legs for `amount` out of `held`: each leg scaled, rounding fixed on the largest
        credit so the legs still sum to zero."""
        if amount == held:
            return [Leg(row.account, row.amount) for row in holds]
        legs = [
            Leg(
                row.account,
                row.amount * amount // held
                if row.amount > 0
                else -((-row.amount * amount) // held),
            )
            for row in holds
        ]
        drift = sum(leg.amount for leg in legs)
        if drift:
            largest = max(range(len(legs)), key=lambda i: legs[i].amount)
            legs[largest] = Leg(legs[largest].account, legs[largest].amount - drift)
        return [leg for leg in legs if leg.amount]

    @staticmethod
    def _void_posting(
        pending: LedgerTransaction, holds: list[EntryRow], key: str, expire: bool
    ) -> Posting:
        # The reservation's money comes back to the merchant: shown as `payout_failure` /
        # `refund_failure` (docs/api-conventions.md §D6).
        merchant_type = (
            BalanceTransactionType(pending.bt_type)
            if pending.merchant_id is not None and pending.bt_type is not None
            else None
        )
        returned = -(pending.amount or 0)
        return Posting(
            idempotency_key=key,
            type=pending.type,
            currency=pending.currency,
            livemode=pending.livemode,
            merchant_id=pending.merchant_id,
            source=pending.source,
            phase=Phase.expire if expire else Phase.void,
            parent_id=pending.id,
            link=Link.resolve,
            legs=[Leg(row.account, row.amount, EntryKind.release) for row in holds],
            **_shown(merchant_type.failed() if merchant_type else None, returned),
        )


def _settlement(row: Any) -> Posting:
    """A queued collection's net, from the merchant's pending balance to the available one."""
    return Posting(
        idempotency_key=f"settle:{row.transaction_id}",
        type=SourceType.settlement,
        currency=row.currency,
        livemode=row.livemode,
        merchant_id=row.merchant_id,
        parent_id=row.transaction_id,
        link=Link.settle,
        legs=[
            Leg(
                merchant_account(row.merchant_id, row.livemode, row.currency, AccountKind.pending),
                -row.amount,
            ),
            Leg(
                merchant_account(
                    row.merchant_id, row.livemode, row.currency, AccountKind.available
                ),
                row.amount,
            ),
        ],
    )


def _deferral(
    merchant_id: str,
    livemode: bool,
    currency: str,
    amount: int,
    until: dt.datetime,
    collection: str,
    idempotency_key: str,
) -> Posting:
    """A hold of `amount` from the merchant's available balance back into pending, expiring at
    `until` (the collection's `available_on`). Not a balance transaction: the money is the
    collection's net, already shown by it."""
    return Posting(
        idempotency_key=idempotency_key,
        type=SourceType.settlement,
        currency=currency,
        livemode=livemode,
        merchant_id=merchant_id,
        source=collection,
        phase=Phase.pending,
        expires_at=until,
        legs=[
            Leg(
                merchant_account(merchant_id, livemode, currency, AccountKind.available),
                -amount,
                EntryKind.hold,
            ),
            Leg(
                merchant_account(merchant_id, livemode, currency, AccountKind.pending),
                amount,
                EntryKind.hold,
            ),
        ],
    )


class _Shown(TypedDict):
    bt_type: BalanceTransactionType | None
    amount: int | None
    fee: int | None
    net: int | None


def _shown(bt_type: BalanceTransactionType | None, amount: int) -> _Shown:
    """A posting's balance-transaction fields: `amount` (no fee) shown to the merchant as
    `bt_type`, or nothing shown when `bt_type` is None."""
    if bt_type is None:
        return _Shown(bt_type=None, amount=None, fee=None, net=None)
    return _Shown(bt_type=bt_type, amount=amount, fee=0, net=amount)


@contextlib.asynccontextmanager
async def _joined(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """The caller's own transaction, as a context that neither commits nor ends it."""
    yield session


def _sum(rows: Sequence[LedgerAccount]) -> Balance:
    return Balance(
        sum(row.balance for row in rows),
        sum(row.pending_debits for row in rows),
        sum(row.pending_credits for row in rows),
        sum(row.version for row in rows),
    )


def _status(row: LedgerTransaction, closed: set[str]) -> str:
    """`pending` while a collection's net waits in the merchant's pending balance: until it is
    settled or reversed (a reversal takes it back out of pending; the pair then nets to zero
    among the available ones, as in the balance). A zero net has nothing waiting."""
    if row.available_on is not None and row.net and row.id not in closed:
        return "pending"
    return "available"


ledger = LedgerService()
