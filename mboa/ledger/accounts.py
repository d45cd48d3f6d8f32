"""Account keys, ids and flags.

An account is named by its key (merchant or platform, mode, currency, kind, operator, shard). Its
id is a 63-bit hash of the key, so every process derives the same id without a lookup and the lock
order (ascending id) is known before touching the database.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
from typing import Final


class AccountKind(enum.StrEnum):
    pending = "pending"
    """Merchant: collected, not yet settled (becomes available after the settlement delay)."""
    available = "available"
    """Merchant: can be paid out. Never negative."""
    reserved = "reserved"
    """Merchant: set aside for payouts and refunds in flight."""
    fee_revenue = "fee_revenue"
    """Platform: fees earned. Hot: split into shards."""
    operator_float = "operator_float"
    """Platform: money held at an operator (MTN MoMo, Orange Money), per mode. Hot: sharded.
    An asset, so its credit-positive balance is negative."""
    payouts_in_transit = "payouts_in_transit"
    """Platform: payouts sent to an operator and not yet confirmed."""
    refunds_in_transit = "refunds_in_transit"
    """Platform: refunds sent to an operator and not yet confirmed."""
    suspense = "suspense"
    """Platform: money we cannot attribute yet (e.g. an operator reported a different amount)."""
    general = "general"
    """Anything else (tests and benchmarks use these)."""


class AccountFlag(enum.IntFlag):
    none = 0
    debits_must_not_exceed_credits = 1
    """balance - pending_debits >= 0 after every posting: the balance never goes negative."""
    credits_must_not_exceed_debits = 2
    """balance + pending_credits <= 0 after every posting (for asset accounts)."""


MERCHANT_KINDS: Final = (AccountKind.pending, AccountKind.available, AccountKind.reserved)
HOT_KINDS: Final = frozenset({AccountKind.fee_revenue, AccountKind.operator_float})
HOT_SHARDS: Final = 32
"""Sub-accounts per hot account. A writer picks the shard of its database connection (backend pid
modulo this), so up to this many concurrent writers never wait on each other (docs/ledger.md)."""
ANY_SHARD: Final = -1

DEFAULT_FLAGS: Final[dict[AccountKind, AccountFlag]] = {
    AccountKind.pending: AccountFlag.debits_must_not_exceed_credits,
    AccountKind.available: AccountFlag.debits_must_not_exceed_credits,
    AccountKind.reserved: AccountFlag.debits_must_not_exceed_credits,
    AccountKind.payouts_in_transit: AccountFlag.debits_must_not_exceed_credits,
    AccountKind.refunds_in_transit: AccountFlag.debits_must_not_exceed_credits,
}


@dataclasses.dataclass(frozen=True, slots=True)
class AccountKey:
    merchant_id: str | None
    livemode: bool
    currency: str
    kind: AccountKind
    operator: str = ""
    shard: int = 0
    """`ANY_SHARD` for a hot account: the writer picks the shard."""
    flags: int = 0

    @property
    def is_hot(self) -> bool:
        return self.shard == ANY_SHARD

    def with_shard(self, shard: int) -> AccountKey:
        # Built directly: `dataclasses.replace` costs three times as much, and a hot account's
        # shard is resolved on every posting.
        return AccountKey(
            self.merchant_id,
            self.livemode,
            self.currency,
            self.kind,
            self.operator,
            shard,
            self.flags,
        )

    def on_shard(self, shard: int) -> AccountKey:
        """The physical account a posting writes: the given shard of a hot account, else itself."""
        return self.with_shard(shard) if self.is_hot else self

    @property
    def id(self) -> int:
        return account_id(self)


def account_id(key: AccountKey) -> int:
    return _account_id(
        key.merchant_id, key.livemode, key.currency, key.kind, key.operator, key.shard
    )


def logical_account_id(key: AccountKey) -> int:
    """The id of the account a key names whatever its shard (a hot account's shard 0): what an
    idempotency fingerprint compares, since the shard depends on the connection."""
    return _account_id(key.merchant_id, key.livemode, key.currency, key.kind, key.operator, 0)


# Cached on the plain fields, not on the dataclass: a dataclass key hashes and compares in Python,
# which cost more than the cache saved (every posting looks up each of its accounts).
@functools.lru_cache(maxsize=1_000_000)
def _account_id(
    merchant_id: str | None, livemode: bool, currency: str, kind: str, operator: str, shard: int
) -> int:
    raw = "\x1f".join(
        (merchant_id or "", "1" if livemode else "0", currency, str(kind), operator, str(shard))
    ).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big") >> 1


def merchant_account(
    merchant_id: str, livemode: bool, currency: str, kind: AccountKind
) -> AccountKey:
    return AccountKey(merchant_id, livemode, currency, kind, flags=int(DEFAULT_FLAGS.get(kind, 0)))


def platform_account(
    kind: AccountKind, livemode: bool, currency: str, operator: str = ""
) -> AccountKey:
    """A platform account; hot kinds come back as `ANY_SHARD` (resolved when posting)."""
    shard = ANY_SHARD if kind in HOT_KINDS else 0
    return AccountKey(
        None, livemode, currency, kind, operator, shard, int(DEFAULT_FLAGS.get(kind, 0))
    )


def shards_of(key: AccountKey) -> list[AccountKey]:
    """Every physical account behind a key (the shards of a hot account, or the key itself)."""
    if not key.is_hot:
        return [key]
    return [key.with_shard(shard) for shard in range(HOT_SHARDS)]
