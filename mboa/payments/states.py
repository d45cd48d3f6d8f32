"""THE state machine of a payment intent: every allowed transition, in one table.

docs/api-conventions.md §A1 (Stripe's statuses, read for mobile money) and docs/payments.md.
Nothing else in the code base decides what status follows what: the service asks `transition()`.
"""

from __future__ import annotations

import enum
from typing import Final


class Status(enum.StrEnum):
    requires_payment_method = "requires_payment_method"
    """No payer yet, or the last attempt failed: a new attempt may be made."""
    processing = "processing"
    """An attempt is with the operator (the payer's phone shows the prompt)."""
    succeeded = "succeeded"
    """Final: the money was received."""
    canceled = "canceled"
    """Final: by the merchant, or expired."""

    @property
    def is_final(self) -> bool:
        return self in (Status.succeeded, Status.canceled)


class Action(enum.StrEnum):
    confirm = "confirm"
    """An attempt starts (API)."""
    attempt_succeeded = "attempt_succeeded"
    """The operator confirmed the money (status read)."""
    attempt_failed = "attempt_failed"
    """The operator confirmed the failure (status read, or a refusal)."""
    cancel = "cancel"
    """The merchant cancels (API)."""
    expire = "expire"
    """`expires_at` passed (janitor)."""
    failed_attempt_succeeded = "failed_attempt_succeeded"
    """An attempt we had failed for an unknown outcome (operator unreachable) was confirmed
    succeeded later by a status read: the payer did pay (docs/payments.md, "When the operator
    is down")."""


class CancellationReason(enum.StrEnum):
    requested_by_customer = "requested_by_customer"
    duplicate = "duplicate"
    fraudulent = "fraudulent"
    abandoned = "abandoned"
    expired = "expired"


TRANSITIONS: Final[dict[tuple[Status, Action], Status]] = {
    (Status.requires_payment_method, Action.confirm): Status.processing,
    (Status.requires_payment_method, Action.cancel): Status.canceled,
    (Status.requires_payment_method, Action.expire): Status.canceled,
    (Status.processing, Action.attempt_succeeded): Status.succeeded,
    (Status.processing, Action.attempt_failed): Status.requires_payment_method,
    # An attempt may still be out there: the janitor keeps reading it, and a success that
    # arrives after this is a late success (docs/payments.md).
    (Status.processing, Action.expire): Status.canceled,
    # The payer paid through an attempt we had given up on: an intent still open is paid by it
    # (a newer attempt still with the operator becomes, if it succeeds too, a late success).
    (Status.requires_payment_method, Action.failed_attempt_succeeded): Status.succeeded,
    (Status.processing, Action.failed_attempt_succeeded): Status.succeeded,
}
"""(status, action) -> next status. A pair that is absent is not allowed. Merchants cannot
cancel a `processing` intent (the payer may be approving right now,
docs/api-conventions.md §A1); expiry can."""

LATE_SUCCESS: Final = frozenset({Status.canceled, Status.succeeded})
"""Statuses in which an attempt's success is recorded without a transition: the money is
counted once on the ledger and flagged for a refund to the payer (docs/payments.md). An intent
already `succeeded` gets here when a second attempt's money arrives (one we had failed for an
unknown outcome, or a newer one after that one paid the intent)."""


def transition(status: Status | str, action: Action) -> Status | None:
    """The status after `action`, or None when `action` is not allowed in `status`."""
    return TRANSITIONS.get((Status(status), action))
