"""Money is an integer count of minor units plus an ISO 4217 currency. Never a float."""

from __future__ import annotations

from typing import Final

# ISO 4217 minor-unit exponents for the currencies we model (XAF and XOF have none).
CURRENCY_EXPONENTS: Final[dict[str, int]] = {"XAF": 0, "XOF": 0, "EUR": 2, "USD": 2}


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[currency.upper()]


def format_amount(amount: int, currency: str) -> str:
    """Human formatting, e.g. `12 500 XAF` (for logs, pages and statements)."""
    currency = currency.upper()
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**digits) if digits else (abs(amount), 0)
    grouped = f"{whole:,}".replace(",", " ")
    if digits:
        return f"{sign}{grouped}.{frac:0{digits}d} {currency}"
    return f"{sign}{grouped} {currency}"
