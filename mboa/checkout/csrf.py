"""CSRF tokens of the payment pages' forms, bound to the browser and to the page
(`mboa.web.csrf`, with the payment pages' own key)."""

from __future__ import annotations

from mboa.web import csrf as _csrf
from mboa.web.csrf import COOKIE, new_cookie_value

__all__ = ["COOKIE", "new_cookie_value", "token", "valid"]

_PURPOSE = b"mboa checkout csrf"


def token(server_secret: str, cookie: str, scope: str) -> str:
    return _csrf.token(server_secret, cookie, scope, purpose=_PURPOSE)


def valid(server_secret: str, cookie: str | None, scope: str, sent: str | None) -> bool:
    return _csrf.valid(server_secret, cookie, scope, sent, purpose=_PURPOSE)
