from __future__ import annotations

from mboa.exceptions import Conflict, MboaError, NotFound
from mboa.exceptions import ServiceUnavailable as _ServiceUnavailable


class LedgerError(MboaError):
    code = "ledger_error"


class LedgerBusy(_ServiceUnavailable):
    """A concurrent posting used the same idempotency key: retry (the retry is a replay)."""

    code = "ledger_busy"


class PostingRejected(Conflict):
    """The ledger refused a posting (insufficient funds, a conflicting replay, …)."""

    code = "posting_rejected"


class BalanceTransactionNotFound(NotFound):
    pass
