"""The dashboard's catalogs (`locale/<lang>/LC_MESSAGES/messages.po`, `make catalogs`), compiled in
memory when first used (`mboa.web.i18n`)."""

from __future__ import annotations

import gettext
from pathlib import Path

from mboa.web import i18n

LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def catalog_path(locale: str) -> Path:
    return i18n.catalog_path(LOCALE_DIR, locale)


def translations(locale: str) -> gettext.GNUTranslations:
    return i18n.compiled(LOCALE_DIR, locale)


def N_(message: str) -> str:
    """Marks a string for extraction (`pybabel extract -k N_`); translated where it is shown."""
    return message
