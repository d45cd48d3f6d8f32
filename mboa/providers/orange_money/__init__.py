"""Orange Money Cameroon: omcoreapis USSD push and cash-in, OM WebPay (docs/providers-wire.md §2)."""

from mboa.providers.orange_money.adapter import SPEC, OrangeMoneyProvider
from mboa.providers.orange_money.config import OrangeMoneySettings

__all__ = ["SPEC", "OrangeMoneyProvider", "OrangeMoneySettings"]
