"""What a page says once after a post led back to it (an error, a notice): a short-lived cookie,
written with the redirect and cleared by the page that shows it. The payment pages, the
dashboard and the staff console each have their own cookie (name and path)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

MAX_AGE_SECONDS = 60


@dataclasses.dataclass(frozen=True, slots=True)
class FlashCookie:
    name: str
    path: str = "/"

    def set(self, request: Request, response: Response, flash: dict[str, Any]) -> None:
        response.set_cookie(
            self.name,
            base64.urlsafe_b64encode(orjson.dumps(flash)).decode(),
            max_age=MAX_AGE_SECONDS,
            path=self.path,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def read(self, request: Request) -> dict[str, Any]:
        """The flash the browser sent back, or {} (none, or not ours: a browser can send
        anything)."""
        raw = request.cookies.get(self.name)
        if not raw:
            return {}
        try:
            value = orjson.loads(base64.urlsafe_b64decode(raw.encode()))
        except (ValueError, orjson.JSONDecodeError):
            return {}
        return value if isinstance(value, dict) else {}

    def clear(self, request: Request, response: Response) -> None:
        """Once shown: the page that read it deletes it."""
        if self.name in request.cookies:
            response.delete_cookie(self.name, path=self.path)
