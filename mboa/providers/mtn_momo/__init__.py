"""MTN MoMo Open API adapter (docs/providers-wire.md §1)."""

# Thin on purpose: `mboa.config` reads `config.py`, and must not load httpx. The adapter is
# `adapter.MtnMomoProvider`, its registration entry `adapter.OPERATOR`.
from mboa.providers.mtn_momo.config import MtnMomoSettings

__all__ = ["MtnMomoSettings"]
