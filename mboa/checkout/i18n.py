"""French and English for the payment pages: gettext catalogs, compiled when first used.

The catalogs are `locale/<lang>/LC_MESSAGES/messages.po` (committed; `babel.cfg` at the
repository root says where `pybabel extract` finds the strings, docs/checkout.md "Languages").
They are compiled in memory by Babel the first time a page needs them (`mboa.web.i18n`), so a
fresh clone has no build step: `make run` and `make test` just work.
"""

from __future__ import annotations

import gettext
from pathlib import Path

from mboa.web import i18n
from mboa.web.i18n import DEFAULT_LOCALE, LOCALES, negotiate

__all__ = ["DEFAULT_LOCALE", "LOCALES", "LOCALE_DIR", "catalog_path", "negotiate", "translations"]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def catalog_path(locale: str) -> Path:
    return i18n.catalog_path(LOCALE_DIR, locale)


def translations(locale: str) -> gettext.GNUTranslations:
    return i18n.compiled(LOCALE_DIR, locale)
