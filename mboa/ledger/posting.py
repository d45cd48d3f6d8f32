"""Postings: what the ledger is asked to write, turned into one call of `mboa_ledger_apply`.

A `Posting` is one journal transaction: legs on accounts (credit positive, debit negative) that sum
to zero per kind. A batch of postings goes to the database in one round trip; the SQL function
locks the batch's accounts in ascending id order, checks balances and idempotency, and returns one
`PostingResult` per posting. This module only shapes data; the SQL lives in `repository.py`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from mboa.kit.ids import new_id
from mboa.ledger.accounts import HOT_SHARDS, AccountKey, account_id, logical_account_id

TXN_PREFIX = "txn"


def new_transaction_id() -> str:
    """`txn_` + a ULID (`mboa.kit.ids`)."""
    return new_id(TXN_PREFIX)


class EntryKind(enum.IntEnum):
    posted = 0
    hold = 1
    """A pending (two-phase) amount: counts in pending_debits / pending_credits."""
    release = 2
    """Undoes a hold when its pending transfer is posted, voided or expires."""


class Phase(enum.StrEnum):
    posted = "posted"
    """Single-phase: the legs are posted now."""
    pending = "pending"
    """Two-phase, first step: the legs are held (a reservation)."""
    post = "post"
    """Resolves a pending: releases its holds and posts (all or part of) them."""
    void = "void"
    """Resolves a pending: releases its holds, posts nothing."""
    expire = "expire"
    """Like void, done by the expiry job once `expires_at` has passed."""


class Link(enum.StrEnum):
    resolve = "resolve"
    reverse = "reverse"
    settle = "settle"


class SourceType(enum.StrEnum):
    """What caused a journal transaction (its `type`)."""

    payment = "payment"
    refund = "refund"
    payout = "payout"
    fee = "fee"
    adjustment = "adjustment"
    reversal = "reversal"
    settlement = "settlement"
    transfer = "transfer"


class BalanceTransactionType(enum.StrEnum):
    """The `type` a merchant sees on a balance transaction (and filters by): what moved their
    balance. A failed payout or refund gives its reservation back (`…_failure`, docs/api-conventions.md
    §D6); a reversal is named after what it undoes, and undoing a reversal re-applies the
    original, so it carries the original's type again."""

    payment = "payment"
    payout = "payout"
    refund = "refund"
    adjustment = "adjustment"
    payout_failure = "payout_failure"
    refund_failure = "refund_failure"
    payment_reversal = "payment_reversal"
    payout_reversal = "payout_reversal"
    refund_reversal = "refund_reversal"
    adjustment_reversal = "adjustment_reversal"

    def failed(self) -> BalanceTransactionType:
        """The type of the transaction that gives back this one's reservation."""
        return BalanceTransactionType(f"{self.value}_failure")

    def reversed(self) -> BalanceTransactionType:
        """The type of the transaction that undoes this one. (The ledger refuses to reverse a
        failure, a void; its type is still defined: undoing it would take the money again.)"""
        for suffix in ("_reversal", "_failure"):
            if self.value.endswith(suffix):
                return BalanceTransactionType(self.value.removesuffix(suffix))
        return BalanceTransactionType(f"{self.value}_reversal")


class Outcome(enum.StrEnum):
    created = "created"
    replayed = "replayed"
    """Same idempotency key and same content: the original transaction, nothing written."""
    conflict = "conflict"
    """Same idempotency key, different content: nothing written."""
    invalid = "invalid"
    exceeds_credits = "exceeds_credits"
    """A flagged account would go below zero (insufficient funds)."""
    exceeds_debits = "exceeds_debits"
    parent_not_found = "parent_not_found"
    parent_not_pending = "parent_not_pending"
    already_resolved = "already_resolved"
    already_reversed = "already_reversed"
    already_settled = "already_settled"
    pending_expired = "pending_expired"
    not_expired = "not_expired"
    not_reversible = "not_reversible"
    mismatch = "mismatch"
    """A post, void or reversal whose legs do not match the transaction it refers to."""
    retry = "retry"
    """Internal: a concurrent transaction committed the same key meanwhile; call again."""
    unknown_account = "unknown_account"
    """Internal: an account is not open yet (the repository opens it and calls again)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Leg:
    account: AccountKey
    amount: int
    kind: EntryKind = EntryKind.posted


@dataclasses.dataclass(slots=True)
class Posting:
    idempotency_key: str
    type: str
    currency: str
    livemode: bool
    legs: Sequence[Leg]
    phase: Phase = Phase.posted
    source: str | None = None
    merchant_id: str | None = None
    parent_id: str | None = None
    link: Link | None = None
    expires_at: dt.datetime | None = None
    bt_type: str | None = None
    """Set for the merchant's balance transactions (what /v1/balance_transactions lists)."""
    amount: int | None = None
    fee: int | None = None
    net: int | None = None
    available_on: dt.datetime | None = None
    """With `net`: the net is moved from pending to available by the settlement job then."""
    description: str | None = None
    metadata: dict[str, Any] | None = None
    id: str = dataclasses.field(default_factory=new_transaction_id)

    def fingerprint(self) -> bytes:
        """The content that decides replay vs conflict. Hot accounts count by their logical key
        (the shard is chosen per connection) and times are left out (a retry recomputes them)."""
        legs = sorted(
            (logical_account_id(leg.account), int(leg.kind), leg.amount) for leg in self.legs
        )
        content = (
            self.type,
            self.currency,
            self.livemode,
            self.phase,
            self.source,
            self.merchant_id,
            self.parent_id,
            self.link,
            self.bt_type,
            self.amount,
            self.fee,
            self.net,
            legs,
        )
        # orjson writes an enum as its value, so `SourceType.payment` and "payment" agree; it is
        # about twice as fast as repr() here (batches fingerprint every posting).
        return hashlib.blake2b(orjson.dumps(content), digest_size=16).digest()


@dataclasses.dataclass(frozen=True, slots=True)
class PostingResult:
    outcome: Outcome
    transaction_id: str
    """The new transaction, or for a replay/conflict the one that already has the key."""

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.created, Outcome.replayed)


@dataclasses.dataclass(slots=True)
class Batch:
    """The arguments of one `mboa_ledger_apply` call, plus the physical accounts it needs open."""

    args: list[Any]
    accounts: dict[int, AccountKey]


def _ordered_legs(legs: Sequence[Leg], shard: int) -> list[tuple[int, AccountKey, int, int]]:
    """Physical legs `(account id, key, kind, amount)`, one per (account, kind), releases first
    (so a post never shows a transient overdraft in the version chain)."""
    if len(legs) == 2:
        # The common case (two legs of one kind on two accounts) without the merging.
        first, second = legs
        a, b = first.account.on_shard(shard), second.account.on_shard(shard)
        id_a, id_b = account_id(a), account_id(b)
        if id_a != id_b and first.kind == second.kind and first.amount and second.amount:
            kind = int(first.kind)
            return [(id_a, a, kind, first.amount), (id_b, b, kind, second.amount)]
    merged: dict[tuple[AccountKey, int], int] = {}
    for leg in legs:
        key = leg.account.on_shard(shard)
        merged[(key, int(leg.kind))] = merged.get((key, int(leg.kind)), 0) + leg.amount
    out = [
        (account_id(key), key, kind, amount)
        for (key, kind), amount in merged.items()
        if amount != 0
    ]
    out.sort(key=lambda item: -item[2])
    return out


def build_batch(postings: Sequence[Posting], shard_hint: int) -> Batch:
    shard = shard_hint % HOT_SHARDS
    physical = [_ordered_legs(p.legs, shard) for p in postings]
    accounts: dict[int, AccountKey] = {}
    for legs in physical:
        for account, key, _, _ in legs:
            accounts[account] = key
    ids = sorted(accounts)
    index = {account: position for position, account in enumerate(ids, 1)}
    e_item: list[int] = []
    e_acct: list[int] = []
    e_kind: list[int] = []
    e_amount: list[int] = []
    for item, legs in enumerate(physical, 1):
        for account, _, kind, amount in legs:
            e_item.append(item)
            e_acct.append(index[account])
            e_kind.append(kind)
            e_amount.append(amount)
    nones: list[Any] = [None] * len(postings)
    args: list[Any] = [
        ids,
        [p.id for p in postings],
        [p.idempotency_key for p in postings],
        [p.fingerprint() for p in postings],
        [str(p.type) for p in postings],
        [p.source for p in postings],
        [p.merchant_id for p in postings],
        [p.livemode for p in postings],
        [p.currency for p in postings],
        [str(p.phase) for p in postings],
        [p.parent_id for p in postings],
        [p.link and str(p.link) for p in postings],
        [p.expires_at for p in postings],
        [p.bt_type for p in postings],
        [p.amount for p in postings],
        [p.fee for p in postings],
        [p.net for p in postings],
        [p.available_on for p in postings],
        [p.description for p in postings],
        [orjson.dumps(p.metadata).decode() if p.metadata else None for p in postings]
        if any(p.metadata for p in postings)
        else nones,
        e_item,
        e_acct,
        e_kind,
        e_amount,
    ]
    return Batch(args, accounts)


def transfer_args(
    posting: Posting, shard_hint: int
) -> tuple[list[Any], dict[int, AccountKey]] | None:
    """Arguments of `mboa_ledger_write_transfer`, the one-statement path, built without the batch
    lists: legs aligned with the accounts in id order. None if the posting needs the general
    function: a phase other than posted or pending, a parent or link, an expiry, a settlement,
    or an account with more than one leg (a hold and a posted amount)."""
    if (
        posting.phase not in (Phase.posted, Phase.pending)
        or posting.parent_id is not None
        or posting.link is not None
        or posting.expires_at is not None
        or posting.available_on is not None
    ):
        return None
    legs = sorted(_ordered_legs(posting.legs, shard_hint % HOT_SHARDS), key=lambda leg: leg[0])
    accounts = {account: key for account, key, _, _ in legs}
    if len(accounts) != len(legs):
        return None
    args = [
        list(accounts), posting.id, posting.idempotency_key, posting.fingerprint(),
        str(posting.type), posting.source, posting.merchant_id, posting.livemode,
        posting.currency, str(posting.phase), posting.bt_type, posting.amount, posting.fee,
        posting.net, posting.description,
        orjson.dumps(posting.metadata).decode() if posting.metadata else None,
        [kind for _, _, kind, _ in legs], [amount for _, _, _, amount in legs],
    ]  # fmt: skip
    return args, accounts


_OUTCOMES: dict[str, Outcome] = {outcome.value: outcome for outcome in Outcome}
"""Value → member without `Outcome(value)`'s enum machinery (one per posting of a batch)."""


def parse_transfer_rows(rows: Sequence[Sequence[Any]]) -> list[PostingResult]:
    """The row of `mboa_ledger_write_transfer`: one `text[]`, (status, transaction id)."""
    return [PostingResult(_OUTCOMES[row[0][0]], str(row[0][1])) for row in rows]


def parse_results(rows: Sequence[Sequence[Any]], count: int) -> list[PostingResult]:
    """Rows of `mboa_ledger_apply`: (item, status, transaction id)."""
    results = [PostingResult(_OUTCOMES[row[1]], str(row[2])) for row in rows]
    assert len(results) == count, "mboa_ledger_apply returned a result per item"
    return results
