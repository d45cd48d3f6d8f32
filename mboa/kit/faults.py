"""Crash points for the fault tests (tests/faults/): test-only, off by default.

`MBOA_FAULTS__CRASH_AT=<point>` is read once, when this module is imported (process start). At
that named point the process SIGKILLs itself: no `finally`, no rollback sent, no lock released,
exactly as an OOM kill or a lost node. When the variable is unset, `crash_point()` compares one
string with None. The points and what each one proves: docs/payments.md "Crash points".
"""

from __future__ import annotations

import os
import signal
from typing import Literal

CrashPoint = Literal[
    "before_commit",
    "after_operator_call",
    "in_callback",
    "relay_before_mark",
    "webhook_after_send",
    "api_before_commit",
    "api_in_callback",
]

CRASH_AT: str | None = os.environ.get("MBOA_FAULTS__CRASH_AT") or None


def crash_point(name: CrashPoint) -> None:
    """Die here (SIGKILL) if this process was started with `MBOA_FAULTS__CRASH_AT=name`."""
    if CRASH_AT is not None and name == CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)
