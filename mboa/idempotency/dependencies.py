"""The claim of a request's `Idempotency-Key`: a step of its own, after authentication.

The key is scoped to the caller's merchant and mode, so it can only be claimed once the caller is
known. `mboa.routing.ApiRoute` gives every POST route this dependency as its last one, after the
endpoint's own (the authenticator among them): authenticators resolve who is calling, nothing more.
The route then stores the response for the claim in the request's transaction, or releases it.
A route on the lean write path (`mboa.routing`, `WritesDep`) claims nothing here: the key is
noted, and claimed with the response at the request's commit (docs/decisions/0004).
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request

from mboa.auth.subject import AuthSubject
from mboa.idempotency import service as idempotency
from mboa.state import get_state


async def claim_idempotency_key(request: Request) -> None:
    """Claim the `Idempotency-Key` of an authenticated merchant's POST (a no-op otherwise).

    Raises what `idempotency.claim` raises: 409 while another request holds the key, 400 when it
    was used with other parameters, and `IdempotentReplay` when its response is stored."""
    key = request.headers.get("idempotency-key")
    subject: AuthSubject | None = getattr(request.state, "auth", None)
    if key is None or request.method != "POST" or subject is None or subject.merchant_id is None:
        return
    idempotency.validate_key(key)
    path = request.url.path + ("?" + request.url.query if request.url.query else "")
    if getattr(request.state, "claim_at_commit", False):
        request.state.idempotency_pending = idempotency.pending_key(
            subject.tenant, key=key, method=request.method, path=path, body=await request.body()
        )
        return
    state = get_state(request)
    request.state.idempotency_claim = await idempotency.claim(
        state.db.app_sessions,
        subject.tenant,
        key=key,
        method=request.method,
        path=path,
        body=await request.body(),
        stale_after=dt.timedelta(seconds=state.settings.idempotency.stale_lock_seconds),
    )
