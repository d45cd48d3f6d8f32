"""All SQL of events: the writer's table (the ORM adds rows), the Events API's list (session) and
retrieve (read path), the stream's reads (read path) and the retention prune (platform role)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, Select, delete, or_, select

from mboa.kit.ids import Prefix, lowest_id_at
from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.models import Event
from mboa.postgres import Json
from mboa.webhooks.repository import PENDING_WEBHOOKS, delivery_success_clause, pending_webhooks

# The webhooks domain owns its tables' SQL; events take from it the two pieces the event object
# needs (mboa.webhooks.repository imports nothing of events: no cycle).

LIKE_ESCAPE = "\\"


def like_pattern(type_pattern: str) -> str:
    """`payment_intent.*` → `payment_intent.%` (LIKE), with `_` and `%` taken literally."""
    escaped = (
        type_pattern.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    )
    return escaped.replace("*", "%")


@dataclasses.dataclass(frozen=True, slots=True)
class EventFilters:
    """What `GET /v1/events` filters on (already validated by the endpoint)."""

    types: tuple[str, ...] = ()
    """Type names or patterns with `*` (`payment_intent.*`); any of them matches; none: all."""
    created: CreatedRange | None = None
    object_id: str | None = None
    restrict: ColumnElement[bool] | None = None
    """A further condition on the events (`delivery_success_restriction`), added as is."""


def delivery_success_restriction(success: bool) -> ColumnElement[bool]:
    """`delivery_success=false`: events with a delivery not (yet) succeeded, pending or given
    up; `true`: events whose every delivery succeeded (or that had none to make)."""
    return delivery_success_clause(Event.id, success)


class EventRepository(RepositoryBase[Event]):
    model = Event

    def list_statement(self, filters: EventFilters) -> Select[Event]:
        # Row-level security already limits rows to the request's merchant and mode.
        statement = select(Event)
        if filters.types:
            exact = [t for t in filters.types if "*" not in t]
            wildcards = [t for t in filters.types if "*" in t]
            statement = statement.where(
                or_(
                    *([Event.type.in_(exact)] if exact else []),
                    *(Event.type.like(like_pattern(t), escape=LIKE_ESCAPE) for t in wildcards),
                )
            )
        if filters.created is not None:
            statement = statement.where(*filters.created.clauses(Event.created_at))
        if filters.object_id is not None:
            statement = statement.where(Event.object_id == filters.object_id)
        if filters.restrict is not None:
            statement = statement.where(filters.restrict)
        return statement

    async def delete_older_than(self, cutoff: dt.datetime, *, limit: int) -> int:
        """Platform-role maintenance: up to `limit` of the oldest events created before `cutoff`.

        Ids are time-sortable (`mboa.kit.ids`), so the batch is found on the primary key rather
        than by scanning `created_at`; the `created_at` condition keeps the rule exact."""
        oldest = (
            select(Event.id)
            .where(Event.id < lowest_id_at(Prefix.event, cutoff), Event.created_at < cutoff)
            .order_by(Event.id)
            .limit(limit)
        )
        result = await self.session.execute(
            delete(Event).where(Event.id.in_(oldest.scalar_subquery())).returning(Event.id)
        )
        return len(result.all())

    async def pending_webhooks(self, event_ids: Sequence[str]) -> dict[str, int]:
        return await pending_webhooks(self.session, event_ids)


class EventReads:
    """The read path (`mboa.postgres`): statements on a read-only transaction as the API role,
    under row-level security. Rows use the ORM's attribute names."""

    _COLUMNS = (
        "id, type, livemode, created_at, data, sequence, request_id, idempotency_key, xact_id, "
        + PENDING_WEBHOOKS.format(event_id="events.id")
        + " AS pending_webhooks"
    )
    _GET = f"SELECT {_COLUMNS} FROM events WHERE id = $1"  # noqa: S608 - constants
    # The stream's position of an event (test mode only, as the stream).
    _POSITION = "SELECT xact_id, id FROM events WHERE id = $1 AND NOT livemode"
    # Every transaction below this one has ended: no event can still appear before it.
    _HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    _AFTER = (
        f"SELECT {_COLUMNS} FROM events"  # noqa: S608 - constants
        " WHERE merchant_id = $1 AND NOT livemode AND (xact_id, id) > ($2::bigint, $3::text)"
        " AND xact_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        " AND ($4::text[] IS NULL OR type LIKE ANY($4::text[]))"
        " ORDER BY xact_id, id LIMIT $5"
    )

    # The dashboard's live-mode stream (the stream's index covers test mode only): by id,
    # which sorts by creation time (docs/dashboard.md, "Real time").
    _AFTER_ID = (
        "SELECT id, type, livemode, created_at, data, sequence, request_id, idempotency_key,"
        " xact_id FROM events WHERE merchant_id = $1 AND livemode = $2 AND id > $3"
        " ORDER BY id LIMIT $4"
    )

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def after_id(
        self, merchant_id: str, livemode: bool, after: str, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.connection.fetch(self._AFTER_ID, merchant_id, livemode, after, limit)
        return [dict(row) for row in rows]

    async def get(self, event_id: str) -> dict[str, Any] | None:
        row = await self.connection.fetchrow(self._GET, event_id)
        return dict(row) if row is not None else None

    async def position_of(self, event_id: str) -> tuple[int, str] | None:
        row = await self.connection.fetchrow(self._POSITION, event_id)
        return (int(row["xact_id"]), str(row["id"])) if row is not None else None

    async def horizon(self) -> int:
        return int(await self.connection.fetchval(self._HORIZON))

    async def after(
        self,
        merchant_id: str,
        position: tuple[int, str],
        *,
        types: Sequence[str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Test-mode events after `position` in stream order (transaction, then id), among
        those whose transaction precedes every running one."""
        patterns = [like_pattern(t) for t in types] if types else None
        rows = await self.connection.fetch(
            self._AFTER, merchant_id, position[0], position[1], patterns, limit
        )
        return [dict(row) for row in rows]


@dataclasses.dataclass(frozen=True, slots=True)
class NewEvent:
    """An event row of the bare asyncpg paths; `data` is `{"object": …}` already serialised."""

    id: str
    merchant_id: str
    livemode: bool
    created_at: dt.datetime
    type: str
    object_id: str
    data: Json
    request_id: str | None = None
    idempotency_key: str | None = None


_COLUMNS = (
    "id",
    "merchant_id",
    "livemode",
    "created_at",
    "type",
    "object_id",
    "data",
    "request_id",
    "idempotency_key",
)


async def insert_events(connection: asyncpg.Connection, events: Sequence[NewEvent]) -> None:
    """THE writer of event rows on the bare asyncpg paths (the lean write path): every row of
    one call in one statement, so in one round trip. Columns the database fills itself (defaults,
    triggers) are left to it."""
    if not events:
        return
    width = len(_COLUMNS)
    rows = ", ".join(
        "(" + ", ".join(f"${n * width + i + 1}" for i in range(width)) + ")"
        for n in range(len(events))
    )
    values = [getattr(event, column) for event in events for column in _COLUMNS]
    await connection.execute(
        # Column names and placeholders only: every value is a parameter.
        f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES {rows}",  # noqa: S608
        *values,
    )
