"""Double submits (docs/dashboard.md "Double submits"): a form that moves money or creates an
object carries a key its page rendered (`idempotency_key`, 128 random bits, url-safe), and its
post claims that key exactly as the API claims an `Idempotency-Key` (`mboa.idempotency`, the
route's store and replay: docs/decisions/0002): scoped to the member's merchant and mode, its
fingerprint the route, the member and the form's fields. A second post with the same key (a
double click, a re-post on reload, a retry after a network drop) writes nothing and leads to the
first post's result page, with a notice; a refused first post (invalid input) releases the key,
so the member can fix the form and send it again."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from collections.abc import Iterable

import orjson
from starlette.requests import Request

from mboa.dashboard.exceptions import FormInvalid
from mboa.dashboard.signin import Viewer
from mboa.exceptions import IdempotencyInProgress
from mboa.idempotency import service as idempotency
from mboa.state import get_state

FIELD = "idempotency_key"
_KEY = re.compile(r"[A-Za-z0-9_-]{22}")
WAIT_SECONDS = 5.0
"""How long a duplicate waits for the first post to finish before it gives up (409)."""
_POLL_SECONDS = 0.1


def new_form_key() -> str:
    """A fresh key for one rendering of a form: 128 random bits, url-safe (22 characters)."""
    return secrets.token_urlsafe(16)


async def claim_form(
    request: Request, viewer: Viewer, fields: dict[str, str], names: Iterable[str]
) -> None:
    """Claim the form's key for this post (call it once the CSRF token is checked, before any
    write). Raises `FormInvalid` without a well-formed key, `IdempotentReplay` when the key
    already answered (the route replays it), `IdempotencyError` when it was sent with other
    values, and `IdempotencyInProgress` when the first post is still running after
    `WAIT_SECONDS`."""
    key = fields.get(FIELD) or ""
    if not _KEY.fullmatch(key):
        raise FormInvalid(
            "This form has no valid idempotency_key: open it again.",
            param=FIELD,
            code="idempotency_key_invalid",
        )
    body = orjson.dumps(
        {"user": viewer.subject.user_id, "fields": {name: fields.get(name) for name in names}},
        option=orjson.OPT_SORT_KEYS,
    )
    state = get_state(request)
    stale_after = dt.timedelta(seconds=state.settings.idempotency.stale_lock_seconds)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        try:
            request.state.idempotency_claim = await idempotency.claim(
                state.db.app_sessions,
                viewer.subject.tenant,
                key=key,
                method=request.method,
                path=request.url.path,
                body=body,
                stale_after=stale_after,
            )
            return
        except IdempotencyInProgress:
            # A double click: the first post is running. Its answer is the one to show.
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(_POLL_SECONDS)
