"""Numbers and times as our users read them: `12 500 FCFA`, Cameroon time (Babel)."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_datetime, get_timezone
from babel.numbers import format_currency

CAMEROON_TIME = "Africa/Douala"
BABEL_LOCALES = {"fr": "fr_CM", "en": "en_CM"}


def money(amount: int, currency: str, locale: str) -> str:
    """`12 500 FCFA` (fr: narrow no-break space) / `12,500 FCFA` (en): XAF has no minor unit."""
    return format_currency(
        amount, currency, format="#,##0\u00a0¤", locale=BABEL_LOCALES[locale], currency_digits=True
    )


def local_time(value: dt.datetime, locale: str, format: str = "medium") -> str:
    when = format_datetime(
        value, format, tzinfo=get_timezone(CAMEROON_TIME), locale=BABEL_LOCALES[locale]
    )
    return f"{when} (WAT)"
