"""Mobile-money operators behind one provider port (see docs/providers.md).

A thin face: importing it (as `mboa.config` does, for the settings) loads neither the adapters
nor httpx nor Prometheus. The live adapters come from `mboa.providers.registry`.
"""

from mboa.providers.base import PaymentProvider, ProviderSpec
from mboa.providers.types import ProviderName

__all__ = ["PaymentProvider", "ProviderName", "ProviderSpec"]
