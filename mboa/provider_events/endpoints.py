"""`PUT|POST /v1/providers/{provider}/callback/{attempt_id}`: where operators notify us.

Unauthenticated because neither operator signs its callbacks (docs/providers-wire.md §1.9, §2.1,
§2.2); the path carries our own record id, which is what we correlate on. The answer is fast and
tiny: the callback is stored (duplicates are counted) and confirmed later by a status read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from mboa.exceptions import TooManyRequests
from mboa.http_security import client_address
from mboa.provider_events import service
from mboa.provider_events.metrics import CALLBACKS_REFUSED
from mboa.routing import OperatorCallbackRoute, SessionDep
from mboa.state import get_state

# Platform session: callbacks are not merchant-owned until payments link attempts to merchants.
router = APIRouter(prefix="/providers", tags=["Providers"], route_class=OperatorCallbackRoute)

_RECEIVED = b'{"received":true}'


@router.api_route(
    "/{provider}/callback/{attempt_id}",
    methods=["PUT", "POST"],
    # Operator-facing, unauthenticated: not part of the merchant API reference.
    include_in_schema=False,
)
async def operator_callback(
    request: Request,
    session: SessionDep,
    provider: str,
    attempt_id: Annotated[str, Path(min_length=1, max_length=100)],
) -> Response:
    """MTN calls back by PUT or POST, once, with no retry (§1.9); Orange POSTs (§2.1, §2.2).

    200 `{"received": true}` for anything we could store, including an unreadable body (kept as
    `unparseable`): MTN never retries, so an error would only lose the audit trail, and the
    status read, not this answer, decides. 404 for an unknown or disabled provider. 429 with
    `Retry-After`, nothing stored, when one address, or all of a provider's callbacks together,
    exceed their count or stored bytes per minute (`RateLimitSettings.callback_*`): an honest
    refusal lets an operator that retries deliver later, and MTN, which never retries, loses
    nothing the payment poller will not find (docs/providers-wire.md §1.9, §5.2)."""
    state = get_state(request)
    adapter = service.provider_for(state.providers, provider)
    client = client_address(request)
    body = await request.body()
    name = adapter.spec.name.value
    refusal = await state.rate_limiter.refuse_callback(name, client, service.stored_size(body))
    if refusal is not None:
        reason, retry_after = refusal
        CALLBACKS_REFUSED.labels(provider=name, reason=reason).inc()
        raise TooManyRequests(
            "Too many callbacks: this one was not stored. Retry later.",
            headers={"Retry-After": str(retry_after)},
        )
    await service.receive(
        session,
        adapter,
        attempt_id=attempt_id,
        body=body,
        method=request.method,
        headers=request.headers,
        client=client,
    )
    return Response(_RECEIVED, status_code=200, media_type="application/json")
