"""Every event type the platform writes: the one list (docs/webhooks.md §Event types).

The writer (`mboa.events.service.EventService.add`) refuses a type missing here, webhook
endpoints' `enabled_events` take these or `*` (mboa/webhooks/schemas.py), and
tests/events/test_types.py checks that the code's literals and both docs name exactly these.
"""

from __future__ import annotations

from typing import Final

EVENT_TYPES: Final = frozenset(
    {
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.late_success",
        "refund.created",
        "refund.succeeded",
        "refund.failed",
        "payout.created",
        "payout.updated",
        "payout.approved",
        "payout.paid",
        "payout.failed",
        "payout.canceled",
        "checkout.session.completed",
        "checkout.session.expired",
        "webhook_endpoint.disabled",
        "account.updated",
    }
)


class UnknownEventType(ValueError):
    """A programming error (a type written without being listed), not a client's: a ValueError,
    so it is a 500 and fails every test that writes the type."""
