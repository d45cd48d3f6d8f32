"""The SDKs against a real stack: the API on a socket, a real worker (outbox relay + BullMQ)
whose adapters talk to the operators' simulators, which approve the payments and call the API
back. Nothing of ours is mocked; the SDKs only see HTTP."""

from __future__ import annotations

from tests.events.conftest import _fresh_state, ledger_db, sims, worker

__all__ = ["_fresh_state", "ledger_db", "sims", "worker"]
