"""Rolling restarts without a failed request (docs/deploy.md §7).

On SIGTERM the API first answers `/readyz` with 503 for `MBOA_API__DRAIN_SECONDS` while still
serving everything else, so that load balancers (the Service's endpoints, an ALB's target
group) take it out of rotation; only then does uvicorn stop accepting, let requests in flight
finish within `MBOA_API__GRACEFUL_SHUTDOWN_SECONDS`, and exit. A second signal skips the wait.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog
import uvicorn

log = structlog.get_logger("mboa.shutdown")

DRAINING = threading.Event()
"""Set once this process has been asked to stop: `/readyz` then fails (mboa.ops)."""


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self._drain_timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain_seconds > 0 and not DRAINING.is_set():
            DRAINING.set()
            log.warning("draining", seconds=self.drain_seconds)
            self._drain_timer = threading.Timer(
                self.drain_seconds, lambda: uvicorn.Server.handle_exit(self, sig, frame)
            )
            self._drain_timer.daemon = True
            self._drain_timer.start()
            return
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        super().handle_exit(sig, frame)
