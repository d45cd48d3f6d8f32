"""Orange Money Cameroon adapter: omcoreapis USSD push and cash-in, OM WebPay (wire doc §2)."""

from mboa.providers.orange_money.adapter import SPEC, OrangeMoneyProvider
from mboa.providers.orange_money.config import OrangeMoneySettings

__all__ = ["SPEC", "OrangeMoneyProvider", "OrangeMoneySettings"]
