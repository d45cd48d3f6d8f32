"""Event stream: a short poll or LISTEN/NOTIFY? (docs/events.md, "The event stream")

One embedded PostgreSQL at the head revision. Measures:
- `writes_per_s_plain` / `writes_per_s_notify`: committed transactions per second, each writing
  two events (a payment's create), from WRITERS concurrent connections, without (the mean of a
  run before and one after) and with a statement-level `pg_notify` trigger on `events` (what
  LISTEN/NOTIFY would need);
- `idle_poll_us`: one poll of the stream that finds nothing, as the API runs it (read-only
  transaction scoped to a tenant, the stream's statement, COMMIT), median over POLLS;
- `polls_per_s_one_core`: how many such polls one connection runs per second.

Prints one JSON object on its last line. `MBOA_BENCH_SECONDS` (default 5) per write phase.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mboa.config import get_settings  # noqa: E402
from mboa.dev.runtime import migrate  # noqa: E402
from mboa.dev.servers import EmbeddedPostgres  # noqa: E402
from mboa.events.repository import EventReads  # noqa: E402
from mboa.kit.ids import Prefix, new_id  # noqa: E402
from mboa.postgres import plain_url, role_urls, with_database  # noqa: E402

WRITERS = 8
POLLS = 2_000
SECONDS = float(os.environ.get("MBOA_BENCH_SECONDS", "5"))
MERCHANT = "acct_BENCH"
INSERT = (
    "INSERT INTO events (id, merchant_id, livemode, type, object_id, data, created_at)"
    " VALUES ($1, $4, false, 'payment_intent.created', $3, '{\"object\": {}}', now()),"
    " ($2, $4, false, 'payment_intent.processing', $3, '{\"object\": {}}', now())"
)
NOTIFY = (
    "CREATE OR REPLACE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_notify('bench_events', ''); RETURN NULL; END $$;"
    " CREATE TRIGGER bench_notify AFTER INSERT ON events"
    " FOR EACH STATEMENT EXECUTE FUNCTION bench_notify()"
)


async def writes_per_second(url: str) -> float:
    connections = [await asyncpg.connect(url) for _ in range(WRITERS)]
    done = 0
    deadline = time.perf_counter() + SECONDS

    async def write(connection: asyncpg.Connection) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with connection.transaction():
                await connection.execute(
                    INSERT, new_id(Prefix.event), new_id(Prefix.event), new_id("pi"), MERCHANT
                )
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(write(c) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return done / elapsed


async def idle_poll_us(url: str) -> float:
    connection = await asyncpg.connect(url)
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads
    )
    begin = (
        "BEGIN READ ONLY; SELECT set_config('mboa.merchant_id', 'acct_BENCH', true),"
        " set_config('mboa.livemode', 'false', true)"
    )
    reads = EventReads(connection)
    await connection.execute(begin)
    position = (await reads.horizon(), "")
    await connection.execute("COMMIT")
    timings = []
    for _ in range(POLLS):
        started = time.perf_counter()
        await connection.execute(begin)
        rows = await reads.after(MERCHANT, position, types=None, limit=100)
        await connection.execute("COMMIT")
        timings.append(time.perf_counter() - started)
        assert rows == []
    await connection.close()
    return statistics.median(timings) * 1e6


async def run(server_url: str) -> dict[str, float]:
    url = with_database(server_url, "bench_events")
    admin = await asyncpg.connect(plain_url(server_url))
    await admin.execute("DROP DATABASE IF EXISTS bench_events WITH (FORCE)")
    await admin.close()
    await asyncio.to_thread(migrate, url)
    owner = await asyncpg.connect(plain_url(url))
    await owner.execute(
        "INSERT INTO merchants (id, name, country, default_currency, status)"
        " VALUES ($1, 'Bench', 'CM', 'XAF', 'sandbox')",
        MERCHANT,
    )
    plain = await writes_per_second(plain_url(url))
    await owner.execute(NOTIFY)
    notify = await writes_per_second(plain_url(url))
    await owner.execute("DROP TRIGGER bench_notify ON events")
    # Plain again, on the bigger table: the order of the phases favours neither.
    plain = (plain + await writes_per_second(plain_url(url))) / 2
    events = await owner.fetchval("SELECT count(*) FROM events")
    await owner.close()
    app_url = plain_url(role_urls(get_settings(), url)[0])
    poll = await idle_poll_us(app_url)
    return {
        "writers": WRITERS,
        "events_in_table": events,
        "writes_per_s_plain": round(plain),
        "writes_per_s_notify": round(notify),
        "notify_cost_ratio": round(notify / plain, 3),
        "idle_poll_us": round(poll),
        "polls_per_s_one_core": round(1e6 / poll),
    }


def main() -> None:
    server = EmbeddedPostgres(ROOT / ".mboa" / "bench-events" / "postgres")
    server.start()
    try:
        result = asyncio.run(run(server.url))
    finally:
        server.stop(force=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
