"""MTN MoMo Open API adapter (docs/providers-wire.md §1)."""

from mboa.providers.mtn_momo.adapter import SPEC, MtnMomoProvider
from mboa.providers.mtn_momo.config import MtnMomoSettings

__all__ = ["SPEC", "MtnMomoProvider", "MtnMomoSettings"]
