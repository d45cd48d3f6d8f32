"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger("mboa.tasks")

# How long a cancelled task gets to finish (its cleanup included) before the cancel is repeated.
RECANCEL_AFTER_SECONDS = 1.0


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and return once it has finished; raise what it raised, if not cancelled.

    One `cancel()` is not always enough on Python 3.11: `asyncio.wait_for`, which redis-py and
    asyncpg use around socket operations, loses a cancellation that arrives as its inner await
    completes (https://github.com/python/cpython/issues/86296, fixed in 3.12). The task then runs
    on as if never cancelled, for instance into a blocking pub/sub read, and a plain
    `await task` waits forever. Seen in `mboa api`: a process that could not bind its port hung
    in its lifespan shutdown instead of exiting. So a task still running a second after the
    cancel (its cleanup, such as closing a connection, takes milliseconds) is cancelled again.
    """
    task.cancel()
    while True:
        done, _ = await asyncio.wait({task}, timeout=RECANCEL_AFTER_SECONDS)
        if done:
            break
        log.warning("task_cancel_repeated", task=task.get_name())
        task.cancel()
    if not task.cancelled():
        task.result()
