"""The operators' circuit breakers as the staff console sees them.

A breaker lives in the process that calls the operator (`_http.HttpPlumbing`, one per operator
product), and the calls that matter run in the workers: the API process's own breakers say
nothing. So every worker publishes its breakers' states to Redis with each sample
(`worker.run.Sampler`), a hash per process that expires after a few missed samples, and the
console merges them: the worst state per operator, and on how many of the reporting workers.
A breaker that never tripped is closed (the hash names only those that did).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Any

from mboa.providers.breaker_repository import TTL_SECONDS, BreakerRepository

SEVERITY = {"closed": 0, "half-opened": 1, "opened": 2}

_local: dict[str, str] = {}
"""This process's breakers that changed state since it started: `provider:product` → state."""


def record(provider: str, product: str, state: str) -> None:
    """A breaker of this process changed state (the breaker factory's listener)."""
    _local[f"{provider}:{product}"] = state


def local_states() -> dict[str, str]:
    return dict(_local)


def forget() -> None:
    """Drop this process's records: for a process that builds its providers anew (the tests'
    stacks share one process with other tests' adapters)."""
    _local.clear()


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclasses.dataclass(frozen=True, slots=True)
class BreakerSummary:
    """One operator's breakers over the workers reporting now."""

    state: str | None
    """The worst state of any of its products on any worker; None: no worker is reporting."""
    workers: int
    """How many workers report."""
    affected: int
    """On how many of them some product's breaker is not closed."""
    products: tuple[str, ...]
    """The products whose breaker is not closed somewhere (`collection`, `disbursement`)."""


async def publish(redis: Any, prefix: str, *, instance: str | None = None) -> None:
    """This process's breakers, for the console (a worker's sampler calls it)."""
    await BreakerRepository(redis, prefix).publish(instance or instance_name(), local_states())


async def summaries(redis: Any, prefix: str, providers: list[str]) -> dict[str, BreakerSummary]:
    hashes = await BreakerRepository(redis, prefix).reports()
    result = {}
    for provider in providers:
        worst = "closed" if hashes else None
        affected = 0
        products: set[str] = set()
        for states in hashes:
            tripped = {
                name.split(":", 1)[1]: state
                for name, state in states.items()
                if name.startswith(provider + ":") and state != "closed"
            }
            if tripped:
                affected += 1
                products.update(tripped)
                for state in tripped.values():
                    if SEVERITY.get(state, 0) > SEVERITY.get(worst or "closed", 0):
                        worst = state
        result[provider] = BreakerSummary(worst, len(hashes), affected, tuple(sorted(products)))
    return result


__all__ = [
    "TTL_SECONDS",
    "BreakerSummary",
    "forget",
    "instance_name",
    "local_states",
    "publish",
    "record",
    "summaries",
]
