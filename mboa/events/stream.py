"""The event stream (`GET /v1/events/stream`, docs/events.md "The event stream"): a merchant's
test-mode events as server-sent events, as they commit, resumable with `Last-Event-ID`.

Each open stream polls the events table on a short interval (`MBOA_EVENTS__STREAM_POLL_SECONDS`)
in a read-only transaction of its own; nothing is held between polls. Chosen over LISTEN/NOTIFY,
measured in docs/events.md: a NOTIFY from the events table's writers would make every payment's
commit take PostgreSQL's global notification lock (the API's hottest write path pays for a
development tool), a LISTEN connection must be held per API process and re-synchronised after
every reconnect anyway, and a poll of an index range that finds nothing costs well under a
millisecond of the database.

Order and completeness: events are read in the order of their writing transaction's id, then
their own id, and only those whose transaction precedes every transaction still running
(`pg_snapshot_xmin`). A transaction that commits late therefore cannot slip an event in behind
the position a stream has passed; the price is that one long transaction delays the stream (not
the events) until it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import anyio
import orjson
from sse_starlette import ServerSentEvent

from mboa.events.repository import EventReads
from mboa.events.schemas import as_object
from mboa.postgres import Database, TenantContext

Position = tuple[int, str]


async def start_position(reads: EventReads, last_event_id: str | None) -> Position | None:
    """Where a stream starts: just after `last_event_id` (None when there is no such test-mode
    event of the caller's), else at the events that commit from now on."""
    if last_event_id is not None:
        return await reads.position_of(last_event_id)
    return (await reads.horizon(), "")


async def events_after(
    db: Database,
    tenant: TenantContext,
    position: Position,
    *,
    types: Sequence[str] | None,
    poll_seconds: float,
    batch: int,
    stop: anyio.Event,
) -> AsyncIterator[ServerSentEvent]:
    """Every event after `position`, then each new one as it commits, until `stop` is set (the
    server is stopping: the generator ends, so the response ends with its last chunk and the
    client sees a clean end of stream) or the response cancels it (the client went)."""
    while not stop.is_set():
        async with db.tenant_reads(tenant) as connection:
            rows = await EventReads(connection).after(
                tenant.merchant_id, position, types=types, limit=batch
            )
        for row in rows:
            body = orjson.dumps(as_object(row).model_dump(mode="json")).decode()
            yield ServerSentEvent(data=body, id=row["id"])
            position = (int(row["xact_id"]), str(row["id"]))
        if len(rows) < batch:
            with anyio.move_on_after(poll_seconds):
                await stop.wait()
