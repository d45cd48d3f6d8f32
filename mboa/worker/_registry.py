from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mboa.config import Settings
from mboa.postgres import Database

if TYPE_CHECKING:
    # Annotation only: enqueueing (any process) must not load the adapters.
    from mboa.providers.registry import ProviderRegistry

Handler = Callable[["TaskContext", dict[str, Any]], Awaitable[Any]]


@dataclasses.dataclass
class TaskContext:
    """What a task handler gets: the platform-role engine (tasks act across merchants), settings
    and the process's operator adapters (closed by the worker when it stops)."""

    settings: Settings
    db: Database
    job_id: str | None = None
    attempt: int = 1
    providers: ProviderRegistry = dataclasses.field(kw_only=True)


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    handler: Handler
    queue: str
    attempts: int
    backoff_ms: int
    cron: str | None


class Defer(Exception):
    """Raised by a handler that cannot run yet (e.g. its webhook endpoint is at its cap): the
    worker puts the job back, delayed by `delay_ms`, without counting an attempt and without
    holding a slot of the queue meanwhile."""

    def __init__(self, delay_ms: int) -> None:
        super().__init__(f"deferred by {delay_ms} ms")
        self.delay_ms = delay_ms


REGISTRY: dict[str, Task] = {}


def task(
    name: str,
    *,
    queue: str = "default",
    attempts: int = 8,
    backoff_ms: int = 1000,
    cron: str | None = None,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise ValueError(f"task {name!r} is registered twice")
        REGISTRY[name] = Task(name, handler, queue, attempts, backoff_ms, cron)
        return handler

    return register


def job_options(definition: Task, *, job_id: str, delay_ms: int = 0) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "attempts": definition.attempts,
        "backoff": {"type": "exponential", "delay": definition.backoff_ms},
        "delay": delay_ms,
        # Keep finished jobs a day so a re-relayed outbox row is recognised as a duplicate.
        "removeOnComplete": {"age": 86_400},
        "removeOnFail": {"age": 7 * 86_400},
    }
