"""THE state machine of a payout: every allowed transition, in one table.

docs/api-conventions.md §A3 (Stripe's payout statuses) and docs/payouts.md. Nothing else in the
code base decides what status follows what: the service asks `transition()`.
"""

from __future__ import annotations

import enum
from typing import Final


class Status(enum.StrEnum):
    pending = "pending"
    """Funds reserved; not handed to the operator yet (waiting for the worker, or for a staff
    approval). The merchant may still cancel."""
    in_transit = "in_transit"
    """Handed to the operator: the transfer may be under way; only the operator's confirmed
    answer ends it."""
    paid = "paid"
    """Final: the wallet received the money; the reservation is posted."""
    failed = "failed"
    """Final: no money left; the reservation is released."""
    canceled = "canceled"
    """Final: canceled by the merchant or rejected by staff before it was sent; released."""

    @property
    def is_final(self) -> bool:
        return self in FINAL


FINAL: Final = frozenset({Status.paid, Status.failed, Status.canceled})


class Action(enum.StrEnum):
    approve = "approve"
    """Staff approve a payout that waits for review (the status stays `pending`)."""
    reject = "reject"
    """Staff reject it."""
    cancel = "cancel"
    """The merchant cancels (API)."""
    send = "send"
    """The worker hands it to the operator (before the call, in its own commit)."""
    fail = "fail"
    """The operator refused or confirmed a failure, or the destination is not an active wallet."""
    succeed = "succeed"
    """The operator confirmed the transfer (status read)."""


TRANSITIONS: Final[dict[tuple[Status, Action], Status]] = {
    (Status.pending, Action.approve): Status.pending,
    (Status.pending, Action.reject): Status.canceled,
    (Status.pending, Action.cancel): Status.canceled,
    (Status.pending, Action.send): Status.in_transit,
    (Status.pending, Action.fail): Status.failed,
    (Status.in_transit, Action.succeed): Status.paid,
    (Status.in_transit, Action.fail): Status.failed,
}
"""(status, action) -> next status. A pair that is absent is not allowed: nothing can cancel a
payout in transit (the operator may be paying it right now), and a final payout never moves."""


def transition(status: Status | str, action: Action) -> Status | None:
    """The status after `action`, or None when `action` is not allowed in `status`."""
    return TRANSITIONS.get((Status(status), action))
