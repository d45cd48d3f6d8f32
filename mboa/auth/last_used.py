"""When each API key was last used, recorded without a database write per request.

An authenticated request only notes its key in a dict of this process (`KeyUsage.touch`: a dict
look-up, no I/O, nothing awaited; `POST /v1/payment_intents` is benchmarked). The first note
after a write starts a timer; `auth.last_used_flush_seconds` later (30 s by default) everything
noted is written in **one** statement for all the keys (`AuthRepository.record_last_used`:
`UPDATE … FROM unnest(…)` on the platform role, since the keys belong to many merchants), and
once more at shutdown (`stop`). A key is noted at most once per minute: the minute it was last
noted is remembered, so a key that makes a thousand calls in a minute costs one row write, and
there is at most one UPDATE per key per minute in each API process (the statement skips a row
whose value is already as recent, so several processes do not rewrite it).

Precision: the minute. `last_used_at` is the start (UTC) of the latest minute in which the key
authenticated a request, and it is in the database at most `last_used_flush_seconds` after
that request. Only a successful authentication counts: a revoked, expired or unknown key is
refused before it is noted. A database error is logged and the batch kept for the next write
(bounded by `MAX_PENDING`); it never reaches a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import Any

import structlog

from mboa.auth.repository import AuthRepository
from mboa.kit.cancellation import cancel_and_wait
from mboa.postgres import Database

log = structlog.get_logger("mboa.auth.last_used")

MAX_PENDING = 100_000
"""Keys waiting for a write beyond this (the database unreachable for long) are not noted."""
MAX_REMEMBERED = 100_000
"""Keys whose last noted minute is remembered; beyond this the memory starts again."""


def minute_of(unix_time: float) -> int:
    return int(unix_time // 60)


def start_of_minute(minute: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(minute * 60, tz=dt.UTC)


class KeyUsage:
    def __init__(self, db: Database, flush_seconds: float) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self._pending: dict[str, int] = {}
        """Key id → minute of its last use, not written yet."""
        self._noted: dict[str, int] = {}
        """Key id → the last minute noted for it (written or pending)."""
        self._timer: asyncio.Task[None] | None = None
        self._writing: set[asyncio.Task[Any]] = set()
        self._stopped = False
        self.statements = 0
        """UPDATE statements sent by this process (one per write, whatever the number of keys)."""
        self.rows_written = 0
        """Rows those statements changed (a row already as recent is not rewritten)."""

    def touch(self, key_id: str) -> None:
        """Note that `key_id` authenticated a request now (never raises, never waits)."""
        minute = minute_of(time.time())
        if self._noted.get(key_id, -1) >= minute:
            return
        if len(self._noted) >= MAX_REMEMBERED:
            self._noted.clear()
        if len(self._pending) >= MAX_PENDING and key_id not in self._pending:
            return
        self._noted[key_id] = minute
        self._pending[key_id] = minute
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None or self._stopped:
            return
        # Without an event loop (never in a request), `stop()` writes what is pending.
        with contextlib.suppress(RuntimeError):
            self._timer = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_seconds)
        # From here on a new note starts a new timer; `stop()` waits for this write to end
        # instead of cancelling it halfway (its batch would be lost).
        self._timer = None
        this = asyncio.current_task()
        if this is not None:
            self._writing.add(this)
        try:
            await self.flush()
        finally:
            self._writing.discard(this)

    async def flush(self) -> None:
        """Write what is pending now, in one statement."""
        batch, self._pending = self._pending, {}
        if not batch:
            return
        uses = {key_id: start_of_minute(minute) for key_id, minute in batch.items()}
        try:
            async with self.db.platform_statements() as session:
                written = await AuthRepository.from_session(session).record_last_used(uses)
            self.statements += 1
            self.rows_written += written
        except Exception:
            log.exception("api_key_last_used_write_failed", keys=len(batch))
            for key_id, minute in batch.items():
                if self._pending.get(key_id, -1) < minute and len(self._pending) < MAX_PENDING:
                    self._pending[key_id] = minute
            self._schedule()

    async def stop(self) -> None:
        """At shutdown: no more timers; a write under way ends; what is pending is written."""
        self._stopped = True
        timer, self._timer = self._timer, None
        if timer is not None:
            await cancel_and_wait(timer)  # still asleep: nothing taken from `_pending` yet
        if self._writing:
            await asyncio.wait(set(self._writing))
        await self.flush()
