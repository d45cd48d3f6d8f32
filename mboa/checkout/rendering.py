"""The payment pages' HTML: Jinja2 templates, one environment per language, Babel formatting.

Presentation only: what a page shows is decided by the service (`PageView`); here it is put
into words (gettext) and numbers (Babel: `12 500 FCFA`, Cameroon time)."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from mboa.checkout.i18n import LOCALES, translations
from mboa.providers.registry import SPECS
from mboa.web.formatting import CAMEROON_TIME, local_time, money

__all__ = ["CAMEROON_TIME", "local_time", "money", "render"]

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/static/checkout"
USSD = {"mtn_momo": "*126#", "orange_money": "#150#"}
OPERATOR_NAMES = {"mtn_momo": "MTN MoMo", "orange_money": "Orange Money"}

PAGE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
"""The payment pages' Content-Security-Policy: our own files only, no inline script or style,
forms post only to us, never framed (a payment page in someone's frame is a phishing tool)."""


@functools.cache
def asset_version(name: str) -> str:
    """A content hash in each asset URL: assets are cached for a year, and a new file is a new
    URL."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def asset(name: str) -> str:
    return f"{STATIC_PATH}/{name}?v={asset_version(name)}"


@functools.cache
def _prefixes() -> str:
    """The operators' prefixes for the page's script (one source: the operators' specs)."""
    return json.dumps({name.value: list(spec.phone_prefixes) for name, spec in SPECS.items()})


@functools.cache
def environment(locale: str) -> Environment:
    assert locale in LOCALES
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(("html",), default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # the templates ship with the code: no stat() per page
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        locale=locale,
        other_locales=[other for other in LOCALES if other != locale],
        asset=asset,
        ussd=USSD,
        operator_names=OPERATOR_NAMES,
        prefixes=_prefixes(),
    )
    env.filters["money"] = lambda amount, currency: money(amount, currency, locale)
    env.filters["local_time"] = lambda value: local_time(value, locale)
    return env


def render(template: str, locale: str, **context: Any) -> str:
    return environment(locale).get_template(template).render(**context)


_CSRF_MARK = Markup("<mboa-csrf>")
CSRF_SLOT = str(_CSRF_MARK)
"""Where a page's CSRF token goes. Autoescaped text can never hold `<`, so nothing a merchant or
a payer wrote can put this mark in a page: only the template's own CSRF fields carry it."""
PAGES_CACHED = 2048
"""Rendered pages kept per process (about 5 KB each)."""


def render_page(template: str, locale: str, *, csrf: str, **context: Any) -> str:
    """A payment page, rendered once per distinct content (the template, the language and every
    value it shows, all hashable: `PageView` is frozen), then served from memory with this
    browser's CSRF token put in. A payment that moves on is a new `PageView`, so a new page."""
    return _rendered(template, locale, tuple(sorted(context.items()))).replace(CSRF_SLOT, csrf)


@functools.lru_cache(maxsize=PAGES_CACHED)
def _rendered(template: str, locale: str, context: tuple[tuple[str, Any], ...]) -> str:
    return render(template, locale, csrf=_CSRF_MARK, **dict(context))
