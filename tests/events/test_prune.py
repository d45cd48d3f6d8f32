"""The retention prune (`events.prune`) on backdated rows: what passed the retention goes, in
batches; the rest stays."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import ValidationError

from mboa.config import EventsSettings, Settings
from mboa.events.tasks import prune
from mboa.kit.ids import Prefix, lowest_id_at
from mboa.kit.time import utc_now
from mboa.postgres import Database
from mboa.providers.registry import ProviderRegistry
from mboa.worker import TaskContext
from tests.helpers import Api


def id_at(instant: dt.datetime, n: int) -> str:
    """An event id minted at `instant` (as `new_id` would have then), made unique by `n`."""
    return lowest_id_at(Prefix.event, instant)[:-4] + f"{n:04d}"


@pytest.fixture
async def context(settings: Settings, db: Database) -> AsyncIterator[TaskContext]:
    configured = settings.model_copy(
        update={"events": EventsSettings(retention_days=30, prune_batch=3)}
    )
    providers = ProviderRegistry(configured.providers)
    yield TaskContext(configured, db, providers=providers)
    await providers.aclose()


async def backdated(
    owner: asyncpg.Connection, merchant_id: str, *, days: float, count: int, start: int
) -> list[str]:
    instant = utc_now() - dt.timedelta(days=days)
    ids = [id_at(instant, start + n) for n in range(count)]
    for event_id in ids:
        await owner.execute(
            "INSERT INTO events (id, merchant_id, livemode, type, object_id, data, created_at)"
            " VALUES ($1, $2, false, 'test.updated', $1, $3::jsonb, $4)",
            event_id,
            merchant_id,
            json.dumps({"object": {"id": event_id}}),
            instant,
        )
    return ids


async def test_prune_deletes_what_passed_the_retention_in_batches(
    api: Api, owner_connection: asyncpg.Connection, context: TaskContext
) -> None:
    merchant_id = (await api.signup()).merchant_id
    old = await backdated(owner_connection, merchant_id, days=45, count=7, start=0)
    just_past = await backdated(owner_connection, merchant_id, days=30.01, count=1, start=100)
    kept = await backdated(owner_connection, merchant_id, days=29.9, count=2, start=200)
    kept += await backdated(owner_connection, merchant_id, days=0, count=2, start=300)

    removed = await prune(context, {})

    assert removed == 8  # three batches of at most 3
    left = {r["id"] for r in await owner_connection.fetch("SELECT id FROM events")}
    assert left == set(kept)
    assert not left & set(old + just_past)
    assert await prune(context, {}) == 0


def test_retention_is_at_least_30_days() -> None:
    assert EventsSettings().retention_days == 30
    with pytest.raises(ValidationError):
        EventsSettings(retention_days=29)


def test_prune_is_scheduled() -> None:
    from mboa.tasks import load_tasks

    registered = load_tasks()["events.prune"]
    assert registered.cron is not None
    assert registered.queue == "maintenance"
