"""The operators' simulators, shared with tests/providers/ (callbacks are confirmed against them)."""

from tests.providers.conftest import _fresh_state, sims

__all__ = ["_fresh_state", "sims"]
