"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio
from typing import Any

# How often a cancellation is repeated while the task is still running.
_RECANCEL_SECONDS = 0.05


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and return once it has finished; raise what it raised, if not cancelled.

    One `cancel()` is not always enough on Python 3.11: `asyncio.wait_for`, which redis-py and
    asyncpg use around socket operations, loses a cancellation that arrives as its inner await
    completes (https://github.com/python/cpython/issues/86296, fixed in 3.12). The task then runs
    on as if never cancelled, for instance into a blocking pub/sub read, and a plain
    `await task` waits forever. Seen in `mboa api`: a process that could not bind its port hung
    in its lifespan shutdown instead of exiting. So the cancellation is repeated until it lands.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_RECANCEL_SECONDS)
    if not task.cancelled():
        task.result()
