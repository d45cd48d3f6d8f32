"""The liveness of a process without an HTTP API (the worker, the scheduler): its event loop's
heartbeat.

A task stamps the time every second; the health listener (`mboa.metrics.serve_metrics`, its own
thread) answers `/healthz` 200 while the last stamp is recent. A loop blocked by a synchronous
call or a deadlock stops stamping, `/healthz` turns 503 and Kubernetes restarts the pod; a
process merely waiting on PostgreSQL or Redis still beats (that is readiness, not liveness).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

BEAT_SECONDS = 1.0
STUCK_AFTER_SECONDS = 30.0
"""A loop that has not run the heartbeat for this long is stuck. Generous: a long garbage
collection or a burst of CPU-bound work must not restart a worker in the middle of its jobs."""


class LoopHeartbeat:
    def __init__(
        self,
        *,
        stuck_after: float = STUCK_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stuck_after = stuck_after
        self.clock = clock
        self.last_beat = clock()  # a process that has just started counts as alive

    def beat(self) -> None:
        self.last_beat = self.clock()

    def alive(self) -> bool:
        """Called from the health listener's thread: reads one float, takes no lock."""
        return self.clock() - self.last_beat < self.stuck_after

    @contextlib.asynccontextmanager
    async def running(self, every: float = BEAT_SECONDS) -> AsyncIterator[LoopHeartbeat]:
        """Beat on the running loop until the block ends, shutdown included: a worker finishing
        its jobs after SIGTERM stays alive for the probe."""

        async def beat_forever() -> None:
            while True:
                self.beat()
                await asyncio.sleep(every)

        task = asyncio.create_task(beat_forever())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
