"""The audit tests that go through a whole stack (tests/audit/test_wiring.py) share the payment
pages' stack, declared here as every package that uses it does: one per package, torn down with
it, never a fixture of a test module."""

from __future__ import annotations

from tests.console.conftest import Stack, browser_for, client, ledger_db, shop, stack, staff_member

__all__ = ["Stack", "browser_for", "client", "ledger_db", "shop", "stack", "staff_member"]
