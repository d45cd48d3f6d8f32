"""The Developers section's views (docs/dashboard.md, "Developers"): API keys, webhook
endpoints, the event log and the request log. Every action is the API's own service
(`api_keys.service`, `webhooks.service`, `events.service`) called with the member's subject;
this module only gathers what a page shows."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.api_keys.schemas import redact
from mboa.api_keys.service import api_key as api_key_service
from mboa.auth.subject import AuthSubject
from mboa.dashboard.repository import DashboardRepository
from mboa.events.filters import type_filter
from mboa.events.schemas import as_object
from mboa.events.service import event as event_service
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.time import utc_now
from mboa.models import ApiKey, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mboa.postgres import Database
from mboa.request_log import RequestLog
from mboa.webhooks.service import webhook_endpoint as webhook_endpoint_service

PAGE = 25
KEYS_SHOWN = 100


@dataclasses.dataclass(frozen=True, slots=True)
class KeyRow:
    key: ApiKey
    redacted: str
    state: str
    """`active`, `expiring` (rolled or with an expiry ahead), `expired` or `revoked`."""


def key_state(key: ApiKey, now: dt.datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None:
        return "expired" if key.expires_at <= now else "expiring"
    return "active"


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointPage:
    endpoint: WebhookEndpoint
    deliveries: list[tuple[WebhookDelivery, list[WebhookAttempt]]]
    has_more: bool


@dataclasses.dataclass(frozen=True, slots=True)
class EventPage:
    events: list[tuple[Event, int]]
    has_more: bool


@dataclasses.dataclass(frozen=True, slots=True)
class EventDetail:
    event: dict[str, Any]
    created_at: dt.datetime
    payload: str
    deliveries: list[tuple[WebhookDelivery, int | None]]


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRow:
    method: str
    path: str
    status: int
    request_id: str
    latency_ms: float
    at: dt.datetime
    key: str | None


class DevelopersService:
    async def keys(self, session: AsyncSession, auth: AuthSubject) -> list[KeyRow]:
        """The merchant's keys in the member's mode, newest first (redacted)."""
        assert auth.merchant_id is not None
        rows, _ = await api_key_service.list(
            session,
            merchant_id=auth.merchant_id,
            livemode=auth.livemode,
            params=ListParams(limit=KEYS_SHOWN),
        )
        now = utc_now()
        return [KeyRow(k, redact(k.prefix, k.last4), key_state(k, now)) for k in rows]

    async def key(self, session: AsyncSession, auth: AuthSubject, key_id: str) -> KeyRow:
        assert auth.merchant_id is not None
        found = await api_key_service.get(
            session, merchant_id=auth.merchant_id, livemode=auth.livemode, key_id=key_id
        )
        return KeyRow(found, redact(found.prefix, found.last4), key_state(found, utc_now()))

    async def endpoint_page(
        self, session: AsyncSession, endpoint_id: str, *, after: str | None
    ) -> EndpointPage:
        """An endpoint and its delivery log (newest first, each delivery with its attempts)."""
        endpoint = await webhook_endpoint_service.get(session, endpoint_id)
        deliveries, has_more = await webhook_endpoint_service.list_deliveries(
            session,
            endpoint_id,
            ListParams(limit=PAGE, starting_after=after),
            event_id=None,
            outcome=None,
        )
        return EndpointPage(endpoint, deliveries, has_more)

    async def events(
        self, session: AsyncSession, *, type_pattern: str | None, after: str | None
    ) -> EventPage:
        """A page of the event log; `type_pattern` as the API's `type` (`*` patterns too)."""
        types = await type_filter(type=type_pattern, types=None)
        rows, has_more = await event_service.list(
            session,
            ListParams(limit=PAGE, starting_after=after),
            types.filters(created=CreatedRange(), object_id=None),
        )
        return EventPage(rows, has_more)

    async def event(
        self, session: AsyncSession, db: Database, auth: AuthSubject, event_id: str
    ) -> EventDetail:
        """An event as the API renders it (pretty-printed) and its webhook deliveries."""
        async with db.tenant_reads(auth.tenant) as reads:
            row = await event_service.retrieve(reads, event_id)
        shown = as_object(row).model_dump(mode="json")
        payload = orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode()
        deliveries = await DashboardRepository.from_session(session).deliveries_of([event_id])
        return EventDetail(shown, row["created_at"], payload, deliveries)

    async def requests(
        self, session: AsyncSession, request_log: RequestLog, auth: AuthSubject
    ) -> list[RequestRow]:
        """The member's merchant's last API calls in this mode, the keys shown redacted."""
        assert auth.merchant_id is not None
        entries = await request_log.recent(auth.merchant_id, auth.livemode, limit=100)
        labels = {row.key.id: row.redacted for row in await self.keys(session, auth)}
        return [
            RequestRow(
                method=str(e.get("method", "")),
                path=str(e.get("path", "")),
                status=int(e.get("status", 0)),
                request_id=str(e.get("request_id", "")),
                latency_ms=float(e.get("latency_ms", 0)),
                at=dt.datetime.fromtimestamp(float(e.get("at", 0)), dt.UTC),
                key=labels.get(str(e["key"]), str(e["key"])) if e.get("key") else None,
            )
            for e in entries
        ]


developers = DevelopersService()
