from __future__ import annotations

from mboa.exceptions import BadRequest, Conflict, NotFound


class PayoutNotFound(NotFound):
    pass


class PayoutAmountTooSmall(BadRequest):
    code = "amount_too_small"


class PayoutAmountTooLarge(BadRequest):
    code = "amount_too_large"


class PayoutCurrencyUnsupported(BadRequest):
    code = "currency_unsupported"


class BalanceInsufficient(BadRequest):
    code = "balance_insufficient"


class PayoutUnexpectedState(Conflict):
    code = "payout_unexpected_state"
