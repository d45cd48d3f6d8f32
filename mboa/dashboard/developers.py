"""The dashboard's Developers section under `/dashboard/developers` (docs/dashboard.md,
"Developers"): API keys, webhook endpoints, the event log and the request log.

Each page declares the permission its API endpoint declares (`api_keys:*`,
`webhook_endpoints:*`, `events:read`), hides what the role cannot do, and a post the role may
not make is a 403 page. Actions call the API's services with the member's subject. A new secret
(an API key's, an endpoint's signing secret) is shown once, in the answer to the post that made
it (`Cache-Control: no-store`), never in a redirect, a cookie or a later page."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mboa.api_keys.schemas import MAX_ROLL_OVERLAP_SECONDS, ApiKeyCreate, ApiKeyRoll
from mboa.api_keys.service import api_key as api_key_service
from mboa.auth.scopes import API_SCOPES
from mboa.dashboard.developers_service import developers
from mboa.dashboard.exceptions import FormInvalid
from mboa.dashboard.messages import error_message
from mboa.dashboard.pages import HEADERS, PREFIX, DashboardRoute, _flash_response, _page
from mboa.dashboard.rendering import render
from mboa.dashboard.signin import Member, Viewer, checked_form
from mboa.dashboard.submits import claim_form, new_form_key
from mboa.exceptions import BadRequest, MboaError
from mboa.kit.pagination import ListParams
from mboa.kit.time import utc_now
from mboa.merchants.service import merchant as merchant_service
from mboa.models import ApiKeyType, WebhookEndpoint
from mboa.routing import SessionDep
from mboa.state import get_state
from mboa.webhooks.crypto import secret_box
from mboa.webhooks.event_types import ALL_EVENTS, EVENT_TYPES
from mboa.webhooks.schemas import (
    MAX_ROLL_OVERLAP_SECONDS as MAX_SECRET_OVERLAP_SECONDS,
)
from mboa.webhooks.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointRoll,
    WebhookEndpointUpdate,
)
from mboa.webhooks.service import webhook_endpoint as webhook_endpoint_service

BASE = f"{PREFIX}/developers"
KEY_OVERLAPS = (0, 3600, 86_400, MAX_ROLL_OVERLAP_SECONDS)
"""Now, 1 hour, 24 hours, 7 days: the old key keeps working this long after a roll."""
SECRET_OVERLAPS = (0, 3600, MAX_SECRET_OVERLAP_SECONDS)
"""Now, 1 hour, 24 hours (the API's limit for a signing secret)."""
KEY_EXPIRIES = (7, 30, 90, 365)
"""Days a new key may be given to live."""
NO_STORE = {**HEADERS, "cache-control": "no-store", "pragma": "no-cache"}
EVENT_CHOICES = (ALL_EVENTS, *sorted(EVENT_TYPES))
SCOPE_CHOICES = tuple(sorted(API_SCOPES))


class DevelopersRoute(DashboardRoute):
    """As the dashboard's other pages, except that a post the member's role does not allow is
    a 403 page (not a return to the form), and a refused post names the field at fault."""

    def error_response(self, request: Request, exc: MboaError) -> Response:
        if request.method == "POST" and exc.code == "role_not_permitted":
            viewer = getattr(request.state, "viewer", None)
            locale = viewer.locale if viewer else "fr"
            html = render(
                "message.html",
                locale,
                viewer=viewer,
                title=error_message(exc.code, locale),
                status=403,
                path=request.url.path,
            )
            return HTMLResponse(html, status_code=403, headers=HEADERS)
        if request.method == "POST" and exc.param:
            request.state.typed = {**getattr(request.state, "typed", {}), "param": exc.param}
        return super().error_response(request, exc)


router = APIRouter(prefix=BASE, route_class=DevelopersRoute, include_in_schema=False)


KeysReader = Annotated[Viewer, Depends(Member("api_keys:read"))]
KeysWriter = Annotated[Viewer, Depends(Member("api_keys:write"))]
EndpointsReader = Annotated[Viewer, Depends(Member("webhook_endpoints:read"))]
EndpointsWriter = Annotated[Viewer, Depends(Member("webhook_endpoints:write"))]
EventsReader = Annotated[Viewer, Depends(Member("events:read"))]


async def _form(request: Request, viewer: Viewer, back: str) -> tuple[dict[str, str], Any]:
    """The posted form (CSRF-checked) and its multi-valued fields."""
    request.state.back = back
    assert viewer.subject.session_id is not None
    fields = await checked_form(request, viewer.subject.session_id)
    return fields, await request.form()


def _invalid(exc: ValidationError, default: str) -> FormInvalid:
    errors = exc.errors()
    if not errors:
        return FormInvalid("The form is not valid.", param=default)
    location = errors[0]["loc"] or (default,)
    return FormInvalid(errors[0]["msg"], param=str(location[0]))


def _choice(value: str | None, allowed: tuple[int, ...], param: str) -> int:
    try:
        chosen = int(value or "0")
    except ValueError:
        chosen = -1
    if chosen not in allowed:
        raise FormInvalid(f"Choose one of {allowed}.", param=param)
    return chosen


def _secret_page(
    request: Request, viewer: Viewer, *, kind: str, secret: str, obj: Any, back: str
) -> Response:
    """The one page that shows a new secret: the answer to the post itself, never stored."""
    response = _page(
        request,
        "developers/secret.html",
        viewer.locale,
        viewer=viewer,
        kind=kind,
        secret=secret,
        obj=obj,
        back=back,
        section="keys" if kind == "key" else "webhooks",
    )
    response.headers.update(NO_STORE)
    return response


# -- API keys -------------------------------------------------------------------------------------


@router.get("")
async def developers_home(viewer: EventsReader) -> Response:
    """The section's first page: API keys for whom may see them, else webhooks."""
    target = "api_keys" if viewer.can("api_keys:read") else "webhooks"
    return RedirectResponse(f"{BASE}/{target}", status_code=303)


@router.get("/api_keys")
async def keys_page(request: Request, viewer: KeysReader, session: SessionDep) -> Response:
    """The merchant's keys in the current mode, and the form that creates one."""
    keys = await developers.keys(session, viewer.subject)
    return _page(
        request,
        "developers/keys.html",
        viewer.locale,
        viewer=viewer,
        keys=keys,
        scopes=SCOPE_CHOICES,
        expiries=KEY_EXPIRIES,
        section="keys",
        form_key=new_form_key(),
    )


@router.post("/api_keys")
async def create_key(request: Request, viewer: KeysWriter, session: SessionDep) -> Response:
    """Create a key (`POST /v1/merchants/{id}/api_keys`'s service); its secret is shown in
    this answer only."""
    fields, form = await _form(request, viewer, f"{BASE}/api_keys")
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
    # A second post of the same form creates no second key, and never shows a secret again:
    # it leads to the keys' list (redacted) with a notice (`submits`, `DashboardRoute.store`).
    claimed = {**fields, "scopes": ",".join(sorted(scopes))}
    await claim_form(request, viewer, claimed, ("type", "name", "expires_in_days", "scopes"))
    days = fields.get("expires_in_days") or ""
    expires_at = (
        utc_now() + dt.timedelta(days=_choice(days, KEY_EXPIRIES, "expires_in_days"))
        if days
        else None
    )
    key_type = fields.get("type") or "secret"
    try:
        body = ApiKeyCreate.model_validate(
            {
                "type": key_type,
                "name": (fields.get("name") or "").strip() or None,
                "scopes": scopes if key_type == "restricted" else None,
                "expires_at": int(expires_at.timestamp()) + 1 if expires_at else None,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc, "type") from exc
    subject = viewer.subject
    assert subject.merchant_id is not None
    merchant = await merchant_service.get(session, subject.merchant_id)
    key, secret = await api_key_service.create(
        session,
        merchant=merchant,
        livemode=subject.livemode,
        key_type=ApiKeyType(body.type),
        name=body.name,
        scopes=body.scopes,
        expires_at=expires_at,
        created_by=subject.user_id,
    )
    request.state.replay_to = (f"{BASE}/api_keys", {"notice": "key_created", "id": key.id})
    return _secret_page(
        request, viewer, kind="key", secret=secret, obj=key, back=f"{BASE}/api_keys"
    )


async def _key_confirm(
    request: Request, viewer: Viewer, session: AsyncSession, key_id: str, action: str
) -> Response:
    """The confirmation page of a roll or a revocation: the key named again."""
    row = await developers.key(session, viewer.subject, key_id)
    return _page(
        request,
        "developers/key_confirm.html",
        viewer.locale,
        viewer=viewer,
        row=row,
        action=action,
        overlaps=KEY_OVERLAPS,
        section="keys",
        form_key=new_form_key(),
    )


@router.get("/api_keys/{key_id}/roll")
async def roll_key_confirm(
    request: Request, key_id: str, viewer: KeysWriter, session: SessionDep
) -> Response:
    """Confirm a roll: the key's name and redacted secret repeated, the overlap to choose."""
    return await _key_confirm(request, viewer, session, key_id, "roll")


@router.post("/api_keys/{key_id}/roll")
async def roll_key(
    request: Request, key_id: str, viewer: KeysWriter, session: SessionDep
) -> Response:
    """Roll a key (the API's roll): a new secret, shown once; the old one keeps working for the
    chosen overlap."""
    fields, _ = await _form(request, viewer, f"{BASE}/api_keys/{key_id}/roll")
    # A second post of the same form rolls nothing more (a second roll would replace the new
    # key before its secret was ever read): it leads to the keys' list with a notice.
    await claim_form(request, viewer, fields, ("expires_in",))
    overlap = _choice(fields.get("expires_in"), KEY_OVERLAPS, "expires_in")
    body = ApiKeyRoll(expires_in=overlap)
    subject = viewer.subject
    assert subject.merchant_id is not None
    merchant = await merchant_service.get(session, subject.merchant_id)
    key = await api_key_service.get(
        session, merchant_id=subject.merchant_id, livemode=subject.livemode, key_id=key_id
    )
    new_key, secret = await api_key_service.roll(
        session,
        merchant=merchant,
        key=key,
        overlap_seconds=body.expires_in,
        created_by=subject.user_id,
    )
    request.state.replay_to = (f"{BASE}/api_keys", {"notice": "key_rolled", "id": new_key.id})
    return _secret_page(
        request, viewer, kind="key", secret=secret, obj=new_key, back=f"{BASE}/api_keys"
    )


@router.get("/api_keys/{key_id}/revoke")
async def revoke_key_confirm(
    request: Request, key_id: str, viewer: KeysWriter, session: SessionDep
) -> Response:
    """Confirm a revocation, the key named again."""
    return await _key_confirm(request, viewer, session, key_id, "revoke")


@router.post("/api_keys/{key_id}/revoke")
async def revoke_key(
    request: Request, key_id: str, viewer: KeysWriter, session: SessionDep
) -> Response:
    """Revoke a key now (the API's revoke)."""
    await _form(request, viewer, f"{BASE}/api_keys/{key_id}/revoke")
    subject = viewer.subject
    assert subject.merchant_id is not None
    key = await api_key_service.get(
        session, merchant_id=subject.merchant_id, livemode=subject.livemode, key_id=key_id
    )
    await api_key_service.revoke(session, key=key)
    return _flash_response(request, f"{BASE}/api_keys", {"notice": "key_revoked"})


# -- webhook endpoints -----------------------------------------------------------------------------


@router.get("/webhooks")
async def endpoints_page(
    request: Request, viewer: EndpointsReader, session: SessionDep
) -> Response:
    """The merchant's webhook endpoints in the current mode."""
    rows, _ = await webhook_endpoint_service.list(session, ListParams(limit=100))
    return _page(
        request,
        "developers/webhooks.html",
        viewer.locale,
        viewer=viewer,
        endpoints=rows,
        section="webhooks",
    )


@router.get("/webhooks/new")
async def new_endpoint_page(request: Request, viewer: EndpointsWriter) -> Response:
    """The form that adds an endpoint."""
    return _page(
        request,
        "developers/webhook_form.html",
        viewer.locale,
        viewer=viewer,
        endpoint=None,
        choices=EVENT_CHOICES,
        section="webhooks",
        form_key=new_form_key(),
    )


@router.post("/webhooks")
async def create_endpoint(
    request: Request, viewer: EndpointsWriter, session: SessionDep
) -> Response:
    """Add an endpoint (`POST /v1/webhook_endpoints`'s service); its signing secret is shown in
    this answer only."""
    fields, form = await _form(request, viewer, f"{BASE}/webhooks/new")
    request.state.typed = {"url": (fields.get("url") or "")[:2048]}
    events = [e for e in form.getlist("events") if isinstance(e, str)]
    # As a key's form: a second post creates no second endpoint, shows no secret again.
    claimed = {**fields, "events": ",".join(sorted(events))}
    await claim_form(request, viewer, claimed, ("url", "events", "description"))
    try:
        body = WebhookEndpointCreate.model_validate(
            {
                "url": (fields.get("url") or "").strip(),
                "enabled_events": events,
                "description": (fields.get("description") or "").strip() or None,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc, "url") from exc
    state = get_state(request)
    endpoint, secret = await webhook_endpoint_service.create(
        session,
        viewer.subject,
        body=body,
        box=secret_box(state.settings),
        settings=state.settings.webhooks,
    )
    return _endpoint_secret_page(request, viewer, endpoint, secret, notice="endpoint_created")


@router.get("/webhooks/{endpoint_id}")
async def endpoint_page(
    request: Request, endpoint_id: str, viewer: EndpointsReader, session: SessionDep
) -> Response:
    """An endpoint: its settings, its delivery log (attempts with status, latency, error and
    next retry), resend, roll the secret, edit, delete."""
    after = request.query_params.get("after")
    after = after if after and after.startswith("whd_") and len(after) <= 40 else None
    try:
        page = await developers.endpoint_page(session, endpoint_id, after=after)
    except BadRequest:  # a cursor of another endpoint's log
        page = await developers.endpoint_page(session, endpoint_id, after=None)
    return _page(
        request,
        "developers/webhook.html",
        viewer.locale,
        viewer=viewer,
        page=page,
        after=after,
        choices=EVENT_CHOICES,
        overlaps=SECRET_OVERLAPS,
        section="webhooks",
        form_key=new_form_key(),
    )


@router.post("/webhooks/{endpoint_id}")
async def update_endpoint(
    request: Request, endpoint_id: str, viewer: EndpointsWriter, session: SessionDep
) -> Response:
    """Edit an endpoint (url, events, description, enabled or disabled), as
    `POST /v1/webhook_endpoints/{id}`."""
    fields, form = await _form(request, viewer, f"{BASE}/webhooks/{endpoint_id}")
    status = fields.get("status")
    try:
        body = WebhookEndpointUpdate.model_validate(
            {
                "url": (fields.get("url") or "").strip(),
                "enabled_events": [e for e in form.getlist("events") if isinstance(e, str)],
                "description": (fields.get("description") or "").strip() or None,
                **({"status": status} if status else {}),
            }
        )
    except ValidationError as exc:
        raise _invalid(exc, "url") from exc
    await webhook_endpoint_service.update(session, viewer.subject, endpoint_id, body=body)
    return _flash_response(
        request, f"{BASE}/webhooks/{endpoint_id}", {"notice": "endpoint_updated"}
    )


@router.post("/webhooks/{endpoint_id}/roll")
async def roll_endpoint_secret(
    request: Request, endpoint_id: str, viewer: EndpointsWriter, session: SessionDep
) -> Response:
    """A new signing secret, shown once; the old one keeps signing for the chosen overlap."""
    fields, _ = await _form(request, viewer, f"{BASE}/webhooks/{endpoint_id}")
    await claim_form(request, viewer, fields, ("expires_in",))
    overlap = _choice(fields.get("expires_in"), SECRET_OVERLAPS, "expires_in")
    body = WebhookEndpointRoll(expires_in=overlap)
    endpoint, secret = await webhook_endpoint_service.roll_secret(
        session,
        endpoint_id,
        expires_in=body.expires_in,
        box=secret_box(get_state(request).settings),
    )
    return _endpoint_secret_page(request, viewer, endpoint, secret, notice="secret_rolled")


@router.get("/webhooks/{endpoint_id}/delete")
async def delete_endpoint_confirm(
    request: Request, endpoint_id: str, viewer: EndpointsWriter, session: SessionDep
) -> Response:
    """Confirm a deletion, the endpoint's URL repeated."""
    endpoint = await webhook_endpoint_service.get(session, endpoint_id)
    return _page(
        request,
        "developers/webhook_delete.html",
        viewer.locale,
        viewer=viewer,
        endpoint=endpoint,
        section="webhooks",
    )


@router.post("/webhooks/{endpoint_id}/delete")
async def delete_endpoint(
    request: Request, endpoint_id: str, viewer: EndpointsWriter, session: SessionDep
) -> Response:
    """Delete an endpoint (`DELETE /v1/webhook_endpoints/{id}`'s service)."""
    await _form(request, viewer, f"{BASE}/webhooks/{endpoint_id}/delete")
    await webhook_endpoint_service.delete(session, endpoint_id)
    return _flash_response(request, f"{BASE}/webhooks", {"notice": "endpoint_deleted"})


@router.post("/webhooks/{endpoint_id}/resend")
async def resend_to_endpoint(
    request: Request, endpoint_id: str, viewer: EndpointsWriter, session: SessionDep
) -> Response:
    """Send an event again to this endpoint (`POST /v1/events/{id}/resend`'s service)."""
    fields, _ = await _form(request, viewer, f"{BASE}/webhooks/{endpoint_id}")
    event_id = (fields.get("event") or "")[:64]
    await webhook_endpoint_service.resend(session, event_id, endpoint_id=endpoint_id)
    return _flash_response(request, f"{BASE}/webhooks/{endpoint_id}", {"notice": "resend_queued"})


# -- events --------------------------------------------------------------------------------------


@router.get("/events")
async def events_page(request: Request, viewer: EventsReader, session: SessionDep) -> Response:
    """The event log, newest first: a type filter (`payment_intent.*` patterns as the API's),
    keyset pages."""
    wanted = (request.query_params.get("type") or "").strip()[:80] or None
    after = request.query_params.get("after")
    after = after if after and after.startswith("evt_") and len(after) <= 40 else None
    problem = None
    try:
        page = await developers.events(session, type_pattern=wanted, after=after)
    except BadRequest:
        problem = "event_type_invalid"
        page = None
    return _page(
        request,
        "developers/events.html",
        viewer.locale,
        viewer=viewer,
        page=page,
        wanted=wanted or "",
        after=after,
        problem=problem,
        types=sorted(EVENT_TYPES),
        section="events",
        status=400 if problem else 200,
    )


@router.get("/events/{event_id}")
async def event_page(
    request: Request, event_id: str, viewer: EventsReader, session: SessionDep
) -> Response:
    """An event: its JSON as the API sends it, and its webhook deliveries."""
    detail = await developers.event(session, get_state(request).db, viewer.subject, event_id)
    return _page(
        request,
        "developers/event.html",
        viewer.locale,
        viewer=viewer,
        detail=detail,
        section="events",
    )


@router.post("/events/{event_id}/resend")
async def resend_event(
    request: Request, event_id: str, viewer: EndpointsWriter, session: SessionDep
) -> Response:
    """Send the event again to one endpoint (`POST /v1/events/{id}/resend`'s service)."""
    fields, _ = await _form(request, viewer, f"{BASE}/events/{event_id}")
    endpoint_id = (fields.get("endpoint") or "")[:64] or None
    await webhook_endpoint_service.resend(session, event_id, endpoint_id=endpoint_id)
    return _flash_response(request, f"{BASE}/events/{event_id}", {"notice": "resend_queued"})


# -- request log -------------------------------------------------------------------------------------


@router.get("/requests")
async def requests_page(request: Request, viewer: KeysReader, session: SessionDep) -> Response:
    """The merchant's last API calls in this mode (method, path, status, request id, latency,
    key): from the request log (mboa/request_log.py), no bodies kept."""
    rows = await developers.requests(session, get_state(request).request_log, viewer.subject)
    return _page(
        request,
        "developers/requests.html",
        viewer.locale,
        viewer=viewer,
        rows=rows,
        section="requests",
    )


def _endpoint_secret_page(
    request: Request, viewer: Viewer, endpoint: WebhookEndpoint, secret: str, *, notice: str
) -> Response:
    """An endpoint's new signing secret, shown once; the same form sent again (a reload) leads
    to the endpoint's page with `notice` instead of a second secret."""
    back = f"{BASE}/webhooks/{endpoint.id}"
    request.state.replay_to = (back, {"notice": notice})
    return _secret_page(request, viewer, kind="webhook", secret=secret, obj=endpoint, back=back)
