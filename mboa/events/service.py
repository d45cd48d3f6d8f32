"""Events (`evt_…`, docs/events.md): the writer, used in the transaction of each change, and the
Events API's reads.

The writer records what happened in the caller's transaction, so an event exists exactly when
its change committed (docs/api-conventions.md §D5). PostgreSQL numbers it (`sequence`) and places
it in the stream (`xact_id`): mboa/events/sql/event_sequence.sql.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import ServerSentEvent

from mboa.config import EventsSettings
from mboa.events.exceptions import EventNotFound, EventStreamTestModeOnly
from mboa.events.repository import (
    EventFilters,
    EventReads,
    EventRepository,
    NewEvent,
    insert_events,
)
from mboa.events.stream import events_after, start_position
from mboa.events.types import EVENT_TYPES, UnknownEventType
from mboa.exceptions import BadRequest
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import ListParams
from mboa.kit.request_context import current_request
from mboa.kit.time import utc_now
from mboa.models import Event
from mboa.postgres import Database, Json, TenantContext


class EventService:
    async def record(
        self,
        session: AsyncSession,
        *,
        merchant_id: str,
        livemode: bool,
        type: str,
        snapshot: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
    ) -> Event:
        """`snapshot` is the object as the API renders it (JSON-ready, with its `id`);
        `previous_attributes`, on an event that describes a change of an existing object, the
        changed fields' values before it (JSON-ready); `type` one of mboa/events/types.py."""
        return self.add(
            session,
            merchant_id=merchant_id,
            livemode=livemode,
            type=type,
            snapshot=snapshot,
            previous_attributes=previous_attributes,
        )

    def add(
        self,
        session: AsyncSession,
        *,
        merchant_id: str,
        livemode: bool,
        type: str,
        snapshot: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
    ) -> Event:
        """`record` without awaiting: the event is written with the session's next flush
        (events of one flush go to PostgreSQL in one statement)."""
        if type not in EVENT_TYPES:
            raise UnknownEventType(f"{type!r} is not in mboa/events/types.py: add it there first")
        data: dict[str, Any] = {"object": snapshot}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        request = current_request()
        event = Event(
            id=new_id(Prefix.event),
            merchant_id=merchant_id,
            livemode=livemode,
            type=type,
            object_id=str(snapshot["id"]),
            data=data,
            created_at=utc_now(),
            request_id=request.id if request is not None else None,
            idempotency_key=request.idempotency_key if request is not None else None,
        )
        session.add(event)
        return event

    async def write(
        self,
        connection: asyncpg.Connection,
        *,
        merchant_id: str,
        livemode: bool,
        now: dt.datetime,
        events: Sequence[tuple[str, str, str]],
    ) -> None:
        """`record` on the lean write path (a bare asyncpg transaction): `events` are
        `(type, object_id, snapshot)`, each snapshot the object's JSON as the API renders it,
        already serialised (it is the response's own text). One statement for all of them;
        PostgreSQL numbers them (`sequence`) as it does the ORM's."""
        request = current_request()
        await insert_events(
            connection,
            [
                NewEvent(
                    id=new_id(Prefix.event),
                    merchant_id=merchant_id,
                    livemode=livemode,
                    created_at=now,
                    type=type,
                    object_id=object_id,
                    data=Json('{"object":' + snapshot + "}"),
                    request_id=request.id if request is not None else None,
                    idempotency_key=request.idempotency_key if request is not None else None,
                )
                for type, object_id, snapshot in events
            ],
        )

    # -- the Events API ---------------------------------------------------------------------------

    async def retrieve(self, reads: asyncpg.Connection, event_id: str) -> dict[str, Any]:
        found = await EventReads(reads).get(event_id)
        if found is None:
            raise EventNotFound(f"No such event: '{event_id}'", param="id")
        return found

    async def list(
        self, session: AsyncSession, params: ListParams, filters: EventFilters
    ) -> tuple[list[tuple[Event, int]], bool]:
        """A page of events, each with its `pending_webhooks`."""
        repository = EventRepository.from_session(session)
        rows, has_more = await repository.paginate(repository.list_statement(filters), params)
        pending = await repository.pending_webhooks([row.id for row in rows])
        return [(row, pending[row.id]) for row in rows], has_more

    async def stream(
        self,
        reads: asyncpg.Connection,
        db: Database,
        tenant: TenantContext,
        *,
        last_event_id: str | None,
        types: Sequence[str],
        settings: EventsSettings,
        stop: anyio.Event,
    ) -> AsyncIterator[ServerSentEvent]:
        """The stream's events (the caller sends them): checked and positioned here, on the
        request's read transaction, so that a refusal is still an error object."""
        if tenant.livemode:
            raise EventStreamTestModeOnly(
                "The event stream serves test mode only: use a sk_test_ key (live events reach"
                " you through webhook endpoints, and GET /v1/events lists them)."
            )
        position = await start_position(EventReads(reads), last_event_id)
        if position is None:
            # As a list's unknown cursor: the parameter is wrong, not the URL.
            raise BadRequest(
                f"No such test-mode event: '{last_event_id}' (Last-Event-ID); it may be older"
                " than the retention. Reconnect without it to stream from now on.",
                param="Last-Event-ID",
                code="resource_missing",
            )
        return events_after(
            db,
            tenant,
            position,
            types=types or None,
            poll_seconds=settings.stream_poll_seconds,
            batch=settings.stream_batch,
            stop=stop,
        )

    async def prune_batch(self, session: AsyncSession, *, cutoff: dt.datetime, limit: int) -> int:
        """Delete up to `limit` events created before `cutoff`; returns how many went."""
        return await EventRepository.from_session(session).delete_older_than(cutoff, limit=limit)


event = EventService()
