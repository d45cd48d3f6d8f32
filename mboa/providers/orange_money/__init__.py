"""Orange Money Cameroon: omcoreapis USSD push and cash-in, OM WebPay (docs/providers-wire.md §2)."""

# Thin on purpose: `mboa.config` reads `config.py`, and must not load httpx. The adapter is
# `adapter.OrangeMoneyProvider`, its registration entry `adapter.OPERATOR`.
from mboa.providers.orange_money.config import OrangeMoneySettings

__all__ = ["OrangeMoneySettings"]
