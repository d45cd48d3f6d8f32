"""Which operators exist, and the live adapters of one process.

Each operator declares one `OperatorEntry` next to its adapter (spec, settings group, adapter
class); `OPERATORS` lists them. Adding an operator: see docs/providers.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from mboa.providers.base import OperatorEntry, PaymentProvider, ProviderSpec
from mboa.providers.errors import ProviderConfigurationError
from mboa.providers.mtn_momo.adapter import OPERATOR as MTN_MOMO
from mboa.providers.orange_money.adapter import OPERATOR as ORANGE_MONEY
from mboa.providers.types import ProviderName

if TYPE_CHECKING:
    from mboa.providers.config import ProvidersSettings

OPERATORS: dict[ProviderName, OperatorEntry[Any]] = {
    entry.name: entry for entry in (MTN_MOMO, ORANGE_MONEY)
}
SPECS: dict[ProviderName, ProviderSpec] = {name: entry.spec for name, entry in OPERATORS.items()}


def get_spec(name: ProviderName) -> ProviderSpec:
    return SPECS[name]


def build_provider(
    name: ProviderName,
    settings: ProvidersSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PaymentProvider:
    return OPERATORS[name].create(settings, transport=transport)


class ProviderRegistry:
    """Live adapters for one process (HTTP pools, token caches, breakers), built on first use.

    The process that builds it closes it at shutdown (`aclose`): the API in its lifespan, the
    worker when it stops."""

    def __init__(self, settings: ProvidersSettings) -> None:
        self.settings = settings
        self._providers: dict[ProviderName, PaymentProvider] = {}

    def enabled(self) -> list[ProviderName]:
        return [
            name for name, entry in OPERATORS.items() if entry.settings_of(self.settings).enabled
        ]

    def get(self, name: ProviderName) -> PaymentProvider:
        """The live adapter; raises `ProviderConfigurationError` for a disabled provider."""
        if not OPERATORS[name].settings_of(self.settings).enabled:
            raise ProviderConfigurationError(
                f"{name.value} is disabled (MBOA_PROVIDERS__{name.value.upper()}__ENABLED)",
                provider=name,
            )
        provider = self._providers.get(name)
        if provider is None:
            provider = self._providers[name] = build_provider(name, self.settings)
        return provider

    async def aclose(self) -> None:
        providers, self._providers = self._providers, {}
        for provider in providers.values():
            await provider.aclose()


__all__ = [
    "OPERATORS",
    "SPECS",
    "OperatorEntry",
    "ProviderRegistry",
    "build_provider",
    "get_spec",
]
