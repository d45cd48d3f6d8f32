"""A real worker on the real simulators (the refunds' fixture: payments, payouts and refunds)."""

from __future__ import annotations

from tests.refunds.conftest import _fresh_state, ledger_db, sims, worker

__all__ = ["_fresh_state", "ledger_db", "sims", "worker"]
