"""Mobile-money operators behind one provider port (see docs/providers.md).

Adding a provider touches four places: a `ProviderName` value (types.py), a `build_provider`
arm and a `SPECS` entry below, a settings group in config.py, and its own package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_never

import httpx

from mboa.providers import mtn_momo, orange_money
from mboa.providers.base import PaymentProvider, ProviderSpec
from mboa.providers.errors import ProviderConfigurationError
from mboa.providers.types import ProviderName

if TYPE_CHECKING:
    # Only for annotations: config.py pulls in the simulator's settings, which import this
    # package's adapters' settings.
    from mboa.providers.config import ProvidersSettings

SPECS: dict[ProviderName, ProviderSpec] = {
    ProviderName.mtn_momo: mtn_momo.SPEC,
    ProviderName.orange_money: orange_money.SPEC,
}


def get_spec(name: ProviderName) -> ProviderSpec:
    return SPECS[name]


def build_provider(
    name: ProviderName,
    settings: ProvidersSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PaymentProvider:
    match name:
        case ProviderName.mtn_momo:
            return mtn_momo.MtnMomoProvider(settings.mtn_momo, transport=transport)
        case ProviderName.orange_money:
            return orange_money.OrangeMoneyProvider(settings.orange_money, transport=transport)
        case _:
            assert_never(name)


class ProviderRegistry:
    """Live adapters for one process (HTTP pools, token caches, breakers), built on first use."""

    def __init__(self, settings: ProvidersSettings) -> None:
        self.settings = settings
        self._providers: dict[ProviderName, PaymentProvider] = {}

    def enabled(self) -> list[ProviderName]:
        return [name for name in ProviderName if self._settings_of(name).enabled]

    def _settings_of(
        self, name: ProviderName
    ) -> mtn_momo.MtnMomoSettings | orange_money.OrangeMoneySettings:
        match name:
            case ProviderName.mtn_momo:
                return self.settings.mtn_momo
            case ProviderName.orange_money:
                return self.settings.orange_money
            case _:
                assert_never(name)

    def get(self, name: ProviderName) -> PaymentProvider:
        """The live adapter; raises `ProviderConfigurationError` for a disabled provider."""
        if not self._settings_of(name).enabled:
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
    "SPECS",
    "PaymentProvider",
    "ProviderName",
    "ProviderRegistry",
    "ProviderSpec",
    "build_provider",
    "get_spec",
]
