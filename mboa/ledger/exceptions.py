from __future__ import annotations

from mboa.exceptions import Conflict, MboaError, NotFound
from mboa.exceptions import ServiceUnavailable as _ServiceUnavailable


class LedgerError(MboaError):
    code = "ledger_error"


class LedgerBusy(_ServiceUnavailable):
    """Retry the whole transaction: a concurrent posting used the same idempotency key (the
    retry is a replay), or the caller's transaction made separate ledger calls that deadlocked
    with another's (docs/ledger.md, "One global lock order")."""

    code = "ledger_busy"


class PostingRejected(Conflict):
    """The ledger refused a posting (insufficient funds, a conflicting replay, …)."""

    code = "posting_rejected"


class BalanceTransactionNotFound(NotFound):
    pass


class FeePlanMissing(LedgerError):
    """No plan, not even a default one, for an operator and currency: the platform is set up
    wrong (the migration seeds the defaults); the collection cannot be priced."""

    code = "fee_plan_missing"
