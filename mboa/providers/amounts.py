"""Integer minor units <-> the decimal strings operators put on the wire (docs/providers-wire.md §3.4).

XAF has no minor unit, so `1500` is `"1500"`. A wire amount with more precision than the
currency allows is refused rather than rounded: money is never approximated.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from mboa.kit.money import CURRENCY_EXPONENTS

# Orange WebPay's development sandbox uses the pseudo-currency OUV (docs/providers-wire.md §2.1).
_EXTRA_EXPONENTS = {"OUV": 0}


def currency_exponent(currency: str) -> int:
    code = currency.upper()
    if code in CURRENCY_EXPONENTS:
        return CURRENCY_EXPONENTS[code]
    if code in _EXTRA_EXPONENTS:
        return _EXTRA_EXPONENTS[code]
    raise ValueError(f"unsupported currency {currency!r}")


def to_wire_amount(amount: int, currency: str) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amounts are int minor units")
    digits = currency_exponent(currency)
    if digits == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}"


def from_wire_amount(value: str | int, currency: str) -> int:
    """Parse `"1500"`, `"1500.00"` or `1500` into minor units; refuse anything inexact."""
    if isinstance(value, bool):
        raise ValueError("not an amount")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    scaled = number.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more decimals than {currency} allows")
    return int(scaled)
