"""Imports every domain's tasks so they register (the worker and scheduler load this)."""

from mboa.idempotency import tasks as idempotency_tasks
from mboa.ledger import tasks as ledger_tasks
from mboa.providers import tasks as providers_tasks

__all__ = ["idempotency_tasks", "ledger_tasks", "providers_tasks"]
