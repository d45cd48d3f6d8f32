"""Receipts and logos against a whole stack (the payment pages' stack: the API on a socket, a
worker, the simulators) and a signed-in dashboard browser."""

from __future__ import annotations

from tests.checkout.conftest import Stack, client, shop, stack
from tests.dashboard.conftest import browser_for
from tests.ledger.conftest import ledger_db

__all__ = ["Stack", "browser_for", "client", "ledger_db", "shop", "stack"]
