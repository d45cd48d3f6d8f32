"""French and English: gettext catalogs compiled in memory by Babel the first time a page needs
them (a fresh clone has no build step), and the browser's language negotiated."""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"
"""Most of our users read French first (docs/checkout.md, docs/dashboard.md)."""


def catalog_path(locale_dir: Path, locale: str) -> Path:
    return locale_dir / locale / "LC_MESSAGES" / "messages.po"


@functools.cache
def compiled(locale_dir: Path, locale: str) -> gettext.GNUTranslations:
    with catalog_path(locale_dir, locale).open("rb") as po:
        catalog = read_po(po, locale=locale)
    binary = io.BytesIO()
    write_mo(binary, catalog)  # fuzzy entries are left out, as msgfmt does
    binary.seek(0)
    return gettext.GNUTranslations(binary)


def negotiate(accept_language: str | None) -> str:
    """The first of our languages the browser asks for (by `q`), else French."""
    preferences: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LOCALES and quality > 0:
            preferences.append((-quality, index, language))
    return min(preferences)[2] if preferences else DEFAULT_LOCALE
