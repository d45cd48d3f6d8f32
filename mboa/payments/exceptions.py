from __future__ import annotations

from mboa.exceptions import BadRequest, Conflict, NotFound


class PaymentIntentNotFound(NotFound):
    pass


class AmountTooSmall(BadRequest):
    code = "amount_too_small"


class AmountTooLarge(BadRequest):
    code = "amount_too_large"


class CurrencyUnsupported(BadRequest):
    code = "currency_unsupported"


class ReferenceTaken(BadRequest):
    code = "reference_taken"


class UnexpectedState(Conflict):
    code = "payment_intent_unexpected_state"
