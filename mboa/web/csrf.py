"""CSRF tokens of our HTML forms, bound to the browser and to a scope.

A random cookie (`mboa_csrf`, HttpOnly, SameSite=Lax) is set on the first page view; each form
carries HMAC(key, cookie | scope), the key derived from the server secret and the pages' purpose
(the payment pages and the dashboard never accept each other's tokens). A post must carry the
token of its own scope and browser: another site cannot read the cookie to forge one. Nothing is
stored server-side."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

COOKIE = "mboa_csrf"


def new_cookie_value() -> str:
    return secrets.token_urlsafe(24)


@functools.lru_cache(maxsize=8)  # one key per secret and purpose: not recomputed per view
def _key(server_secret: str, purpose: bytes) -> bytes:
    return hmac.new(server_secret.encode(), purpose, hashlib.sha256).digest()


def token(server_secret: str, cookie: str, scope: str, *, purpose: bytes) -> str:
    digest = hmac.new(_key(server_secret, purpose), f"{cookie}|{scope}".encode(), hashlib.sha256)
    return digest.hexdigest()[:40]


def valid(
    server_secret: str, cookie: str | None, scope: str, sent: str | None, *, purpose: bytes
) -> bool:
    if not cookie or not sent:
        return False
    return hmac.compare_digest(token(server_secret, cookie, scope, purpose=purpose), sent)
