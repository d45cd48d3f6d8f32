from __future__ import annotations

from mboa.exceptions import BadRequest, Conflict, NotFound


class RefundNotFound(NotFound):
    pass


class RefundPaymentIntentNotFound(NotFound):
    pass


class RefundAmountInvalid(BadRequest):
    code = "refund_amount_invalid"


class RefundExceedsRefundable(BadRequest):
    code = "refund_amount_exceeds_refundable"


class RefundBalanceInsufficient(BadRequest):
    code = "refund_balance_insufficient"


class RefundPaymentNotRefundable(Conflict):
    code = "payment_intent_not_refundable"
