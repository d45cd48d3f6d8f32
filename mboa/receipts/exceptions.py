from __future__ import annotations

from mboa.exceptions import Conflict, NotFound


class PaymentIntentNotFound(NotFound):
    pass


class ReceiptUnavailable(Conflict):
    """Only a succeeded payment has a receipt."""

    code = "receipt_unavailable"
