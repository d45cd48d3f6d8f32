"""The per-object sequence number, assigned by PostgreSQL (mboa/events/sql/event_sequence.sql):
for any writer, under concurrency, and across the retention prune."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from mboa.kit.ids import Prefix, new_id
from mboa.postgres import plain_url
from tests.helpers import Api

INSERT = (
    "INSERT INTO events (id, merchant_id, livemode, type, object_id, data, created_at)"
    " VALUES ($1, $2, false, 'test.updated', $3, $4::jsonb, now())"
)


@pytest.fixture
async def connections(database_url: str) -> AsyncIterator[list[asyncpg.Connection]]:
    """Bare connections writing as a bare asyncpg writer would (the owner role: the trigger
    does not depend on who writes)."""
    opened = [await asyncpg.connect(plain_url(database_url)) for _ in range(2)]
    yield opened
    for connection in opened:
        await connection.close()


async def insert(connection: asyncpg.Connection, merchant_id: str, object_id: str) -> str:
    event_id = new_id(Prefix.event)
    await connection.execute(
        INSERT, event_id, merchant_id, object_id, json.dumps({"object": {"id": object_id}})
    )
    return event_id


async def sequences(connection: asyncpg.Connection, object_id: str) -> dict[str, int]:
    rows = await connection.fetch("SELECT id, sequence FROM events WHERE object_id = $1", object_id)
    return {row["id"]: row["sequence"] for row in rows}


async def test_a_bare_insert_is_numbered_and_positioned(
    api: Api, connections: list[asyncpg.Connection]
) -> None:
    merchant_id = (await api.signup()).merchant_id
    writer = connections[0]
    first = await insert(writer, merchant_id, "pi_bare")
    second = await insert(writer, merchant_id, "pi_bare")
    other = await insert(writer, merchant_id, "pi_other")
    assert await sequences(writer, "pi_bare") == {first: 1, second: 2}
    assert await sequences(writer, "pi_other") == {other: 1}
    xact_ids = await writer.fetch(
        "SELECT xact_id FROM events WHERE id = ANY($1::text[])", [first, second]
    )
    assert len({row["xact_id"] for row in xact_ids}) == 2, "each statement its own transaction"


async def test_the_second_writer_waits_and_numbers_after_the_first_commits(
    api: Api, connections: list[asyncpg.Connection]
) -> None:
    """Two transactions write events for one object without any lock of their own: the
    counter's row lock makes the second wait at its insert until the first commits; the numbers
    follow the commit order, whichever transaction began first."""
    merchant_id = (await api.signup()).merchant_id
    early, late = connections
    await insert(early, merchant_id, "pi_race")  # sequence 1, committed

    late_tx = late.transaction()
    await late_tx.start()
    await late.execute("SELECT 1")  # `late` begins first…
    early_tx = early.transaction()
    await early_tx.start()
    early_id = await insert(early, merchant_id, "pi_race")  # …`early` writes first
    blocked = asyncio.create_task(insert(late, merchant_id, "pi_race"))
    done, _ = await asyncio.wait({blocked}, timeout=0.5)
    assert not done, "the second writer waits for the first to end"
    await early_tx.commit()
    late_id = await asyncio.wait_for(blocked, 10)
    await late_tx.commit()

    numbers = await sequences(early, "pi_race")
    assert numbers[early_id] == 2
    assert numbers[late_id] == 3


async def test_a_rolled_back_event_leaves_no_gap(
    api: Api, connections: list[asyncpg.Connection]
) -> None:
    merchant_id = (await api.signup()).merchant_id
    writer = connections[0]
    await insert(writer, merchant_id, "pi_rollback")
    transaction = writer.transaction()
    await transaction.start()
    await insert(writer, merchant_id, "pi_rollback")
    await transaction.rollback()
    last = await insert(writer, merchant_id, "pi_rollback")
    assert (await sequences(writer, "pi_rollback"))[last] == 2


async def test_numbering_goes_on_after_the_objects_events_are_pruned(
    api: Api, connections: list[asyncpg.Connection]
) -> None:
    """A receiver keeps the last sequence it saw: an object whose events all passed the
    retention must not start again at 1 (its next update would look stale)."""
    merchant_id = (await api.signup()).merchant_id
    writer = connections[0]
    for _ in range(3):
        await insert(writer, merchant_id, "pi_old")
    await writer.execute("DELETE FROM events WHERE object_id = 'pi_old'")
    after = await insert(writer, merchant_id, "pi_old")
    assert await sequences(writer, "pi_old") == {after: 4}
