"""`mboa listen --forward-to URL`: a merchant's test-mode events, forwarded to a local URL as
signed webhooks (docs/events.md, "Testing locally: mboa listen and mboa trigger").

It reads the event stream (`GET /v1/events/stream`), reconnects with `Last-Event-ID` after any
interruption (the events it missed come first), and POSTs each event to the URL exactly as the
stream sent it, signed per Standard Webhooks with a secret printed at start, one line per
delivery. Deliveries are sequential, in the stream's order, and not retried: this is a
development tool, the webhook endpoints are the dependable path.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from mboa.webhooks import signing

FORWARD_TIMEOUT_SECONDS = 10.0
"""As the webhook delivery's timeout (docs/api-conventions.md §D5)."""
RECONNECT_MAX_SECONDS = 5.0
USER_AGENT = "mboa-listen/1"


class ListenError(Exception):
    """The API refused the stream for good (a bad key, a live key): retrying cannot help."""


def api_key_of(given: str | None, data_dir: Path) -> str | None:
    """The key given, else the demo merchant's test key that `make run` keeps in
    `<data dir>/demo.json`."""
    if given:
        return given
    with contextlib.suppress(OSError, ValueError):
        stored = json.loads((data_dir / "demo.json").read_text())
        key = stored.get("secret_key")
        return str(key) if key else None
    return None


class Listener:
    def __init__(
        self,
        *,
        forward_to: str,
        api_base: str,
        api_key: str,
        events: Sequence[str] = (),
        secret: str | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.forward_to = forward_to
        self.api_base = api_base.rstrip("/")
        self.api_key = api_key
        self.events = list(events)
        self.secret = secret or signing.new_secret()
        self.echo = echo
        self.last_event_id: str | None = None

    async def run(self) -> None:
        """Until cancelled (Ctrl-C), or until the API refuses the stream for good."""
        self.echo(
            f"Ready! Your webhook signing secret is {self.secret}"
            f" — forwarding test-mode events to {self.forward_to} (Ctrl-C to stop)"
        )
        delay = 0.5
        async with (
            httpx.AsyncClient(
                base_url=self.api_base,
                timeout=httpx.Timeout(FORWARD_TIMEOUT_SECONDS, read=None),
                headers={"User-Agent": USER_AGENT},
            ) as api,
            httpx.AsyncClient(
                timeout=FORWARD_TIMEOUT_SECONDS, headers={"User-Agent": USER_AGENT}
            ) as target,
        ):
            while True:
                try:
                    if await self._stream(api, target):
                        delay = 0.5
                except httpx.TransportError as exc:
                    self.echo(f"stream interrupted ({type(exc).__name__}); reconnecting")
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _stream(self, api: httpx.AsyncClient, target: httpx.AsyncClient) -> bool:
        """One connection to the stream; True when it delivered anything."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        params = {"types[]": self.events} if self.events else None
        delivered = False
        async with aconnect_sse(
            api, "GET", "/v1/events/stream", headers=headers, params=params
        ) as source:
            response = source.response
            if response.status_code != 200:
                await response.aread()
                self._refused(response)
                return False
            async for message in source.aiter_sse():
                if not message.data:
                    continue  # a heartbeat
                await self.forward(target, message.id, message.data.encode())
                self.last_event_id = message.id
                delivered = True
        return delivered

    def _refused(self, response: httpx.Response) -> None:
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"message": response.text[:200], "code": None, "param": None}
        if error.get("param") == "Last-Event-ID":
            # The last event passed the retention: start again from now on.
            self.echo(f"cannot resume after {self.last_event_id}: {error.get('message')}")
            self.last_event_id = None
            return
        if response.status_code >= 500 or response.status_code == 429:
            self.echo(f"the API answered {response.status_code}; reconnecting")
            return
        raise ListenError(f"{response.status_code} {error.get('code')}: {error.get('message')}")

    async def forward(self, target: httpx.AsyncClient, event_id: str, body: bytes) -> int | None:
        """POST one event, signed; prints the line and returns the status (None: no answer)."""
        try:
            event_type = str(json.loads(body).get("type"))
        except ValueError:
            event_type = "?"
        headers = signing.headers(
            [self.secret], msg_id=event_id, timestamp=int(time.time()), body=body
        )
        headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        status: int | None
        try:
            response = await target.post(self.forward_to, content=body, headers=headers)
            status = response.status_code
            outcome = f"[{status}]"
        except httpx.HTTPError as exc:
            status = None
            outcome = f"[{type(exc).__name__}]"
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        self.echo(f"{now}  --> {event_type} [{event_id}]  <-- {outcome} {elapsed_ms} ms")
        return status
