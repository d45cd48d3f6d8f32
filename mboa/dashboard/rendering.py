"""The dashboard's HTML: Jinja2 templates, one environment per language, Babel formatting (the
same money and Cameroon-time formats as the payment pages: `mboa.web.formatting`)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from mboa.dashboard.i18n import translations
from mboa.web.formatting import local_time, money
from mboa.web.i18n import LOCALES

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/static/dashboard"
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
"""Our own files only, no inline script or style, forms post only to us, never framed."""


@functools.cache
def asset_version(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def asset(name: str) -> str:
    return f"{STATIC_PATH}/{name}?v={asset_version(name)}"


def chart(
    daily: list[tuple[dt.date, int, int]], width: int = 600, height: int = 160
) -> dict[str, Any]:
    """Bars of the daily volume, as coordinates for the template's inline SVG."""
    top = max((amount for _, amount, _ in daily), default=0) or 1
    step = width / max(len(daily), 1)
    bars = []
    for index, (day, amount, count) in enumerate(daily):
        bar_height = round((height - 20) * amount / top)
        bars.append(
            {
                "x": round(index * step + 1, 1),
                "y": height - 20 - bar_height,
                "width": round(max(step - 2, 1), 1),
                "height": bar_height,
                "day": day,
                "amount": amount,
                "count": count,
            }
        )
    return {"width": width, "height": height, "bars": bars, "top": top}


@functools.cache
def environment(locale: str) -> Environment:
    assert locale in LOCALES
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(("html",), default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        locale=locale,
        other_locales=[other for other in LOCALES if other != locale],
        asset=asset,
        operator_names=OPERATOR_NAMES,
    )
    env.filters["money"] = lambda amount, currency="XAF": money(amount, currency, locale)
    env.filters["local_time"] = lambda value: local_time(value, locale) if value else ""
    env.filters["short_time"] = lambda value: local_time(value, locale, "short") if value else ""
    env.filters["day"] = lambda value: value.strftime("%d/%m")
    return env


def render(template: str, locale: str, **context: Any) -> str:
    return environment(locale).get_template(template).render(**context)
