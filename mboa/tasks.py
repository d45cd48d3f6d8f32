"""Imports every domain's tasks so they register (the worker and scheduler load this)."""

from mboa.idempotency import tasks as idempotency_tasks
from mboa.ledger import tasks as ledger_tasks

__all__ = ["idempotency_tasks", "ledger_tasks"]
