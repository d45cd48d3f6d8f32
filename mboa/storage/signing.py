"""Signed URLs to our own file route, `GET /files/<key>?expires=…&name=…&signature=…`.

The filesystem backend serves its objects this way, and the payment pages show logos this way
whatever the backend (same origin: the pages' CSP and page-weight budget allow no third party).
The signature is HMAC-SHA256 over the key, the expiry (Unix seconds) and the download name, with
a key derived from the process's secret (`MBOA_AUTH__JWT_SECRET`): whoever holds the URL may
read that one object until it expires, nothing else; changing any part breaks it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from urllib.parse import urlencode

from mboa.storage.exceptions import SignedUrlInvalid

FILES_PATH = "/files"


class UrlSigner:
    def __init__(self, secret: str, base_url: str) -> None:
        self._key = hmac.new(secret.encode(), b"mboa-storage-url-v1", hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")

    def _signature(self, key: str, expires: int, name: str) -> str:
        message = f"{key}\n{expires}\n{name}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def path(self, key: str, *, expires_at: int, download_name: str | None = None) -> str:
        """The signed path (no host), valid until `expires_at` (Unix seconds)."""
        name = download_name or ""
        query = {"expires": str(expires_at), "signature": self._signature(key, expires_at, name)}
        if name:
            query["name"] = name
        return f"{FILES_PATH}/{key}?{urlencode(query)}"

    def url(self, key: str, *, expires_in: int, download_name: str | None = None) -> str:
        expires_at = math.ceil(time.time()) + expires_in  # valid at least `expires_in`
        return self.base_url + self.path(key, expires_at=expires_at, download_name=download_name)

    def verify(self, key: str, expires: str, signature: str, name: str) -> int:
        """The seconds left; `SignedUrlInvalid` for a wrong signature or a past expiry."""
        try:
            expires_at = int(expires)
        except ValueError:
            raise SignedUrlInvalid("This file link is not valid.") from None
        expected = self._signature(key, expires_at, name)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignedUrlInvalid("This file link is not valid.")
        left = expires_at - int(time.time())
        if left <= 0:
            raise SignedUrlInvalid("This file link has expired.")
        return left


def bucketed_expiry(period: int, now: float | None = None) -> int:
    """An expiry that stays the same for a whole `period` and is always at least `period`
    away: URLs built from it are stable (cacheable pages, browser caches) yet short-lived."""
    now = time.time() if now is None else now
    return (int(now) // period + 2) * period
