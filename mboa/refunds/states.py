"""THE state machine of a refund: every allowed transition, in one table.

docs/api-conventions.md §A2 (Stripe's refund statuses) and docs/refunds.md. Nothing else in the
code base decides what status follows what: the service asks `transition()`.
"""

from __future__ import annotations

import enum
from typing import Final


class Status(enum.StrEnum):
    pending = "pending"
    """Funds reserved; the transfer to the payer is waiting for the worker or for the operator's
    answer."""
    succeeded = "succeeded"
    """Final: the payer's wallet received the money; the reservation is posted."""
    failed = "failed"
    """Final: no money left; the reservation is released to the merchant."""

    @property
    def is_final(self) -> bool:
        return self in FINAL


FINAL: Final = frozenset({Status.succeeded, Status.failed})


class Action(enum.StrEnum):
    succeed = "succeed"
    """The operator confirmed the transfer (status read)."""
    fail = "fail"
    """The operator refused the transfer or confirmed its failure."""


TRANSITIONS: Final[dict[tuple[Status, Action], Status]] = {
    (Status.pending, Action.succeed): Status.succeeded,
    (Status.pending, Action.fail): Status.failed,
}
"""(status, action) -> next status. A pair that is absent is not allowed: a final refund never
moves (a late or duplicate confirmation changes nothing)."""


def transition(status: Status | str, action: Action) -> Status | None:
    """The status after `action`, or None when `action` is not allowed in `status`."""
    return TRANSITIONS.get((Status(status), action))
