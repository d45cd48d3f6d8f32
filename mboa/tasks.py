"""The one place tasks register: the processes that run or schedule tasks (the worker and its
outbox relay, the scheduler) call `load_tasks()` at start.

Nothing else imports a domain's `tasks` module for its side effect: `enqueue` writes only the
task's name to the outbox, and the relay, in the worker, finds its queue and options here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from mboa.worker import REGISTRY, Task

TASK_MODULES = (
    # audit log (issue 17 item 4)
    "mboa.audit.tasks",
    "mboa.checkout.tasks",
    "mboa.events.tasks",
    "mboa.idempotency.tasks",
    "mboa.ledger.tasks",
    # e-mail (issue 16)
    "mboa.mail.tasks",
    "mboa.payments.tasks",
    # payouts (issue 13 point 5)
    "mboa.payouts.tasks",
    "mboa.provider_events.tasks",
    # refunds (issue 13 point 4)
    "mboa.refunds.tasks",
    # webhooks (issue 14)
    "mboa.webhooks.tasks",
)
"""Every domain's `tasks` module (a test checks that none is missing)."""


def load_tasks() -> Mapping[str, Task]:
    """Register every domain's tasks (importing a module twice is a no-op); returns them all."""
    for module in TASK_MODULES:
        importlib.import_module(module)
    return REGISTRY
