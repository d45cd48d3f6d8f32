"""How many round trips one create costs PostgreSQL (docs/benchmarks.md, "Payments"): a guard
against round trips creeping back into the hottest write. Counted on the client side, on both
ways the API reaches PostgreSQL: SQLAlchemy's statements, `BEGIN`s and `COMMIT`s/`ROLLBACK`s on
every engine (the ORM session), and the bare asyncpg calls of the lean paths (one simple-query
message, which may hold several statements, or one prepared statement, each one round trip).
Prepared statements are cached per connection and the pool hands back the connection used last,
so a warmed-up request sends no `Parse` of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.helpers import Api, bearer


@contextmanager
def orm_statements() -> Iterator[list[str]]:
    sent: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split())[:60])

    def on_begin(conn: Any) -> None:
        sent.append("BEGIN")

    def on_commit(conn: Any) -> None:
        sent.append("COMMIT")

    def on_rollback(conn: Any) -> None:
        sent.append("ROLLBACK")

    listeners = [
        ("before_cursor_execute", on_execute),
        ("begin", on_begin),
        ("commit", on_commit),
        ("rollback", on_rollback),
    ]
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    try:
        yield sent
    finally:
        for name, listener in listeners:
            event.remove(Engine, name, listener)


@contextmanager
def bare_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """asyncpg's two ways to the server, observed (the originals still run): `execute` without
    arguments (the simple-query protocol) and `_execute` (every prepared statement's bind and
    execute: `execute` with arguments, `fetch*`)."""
    sent: list[str] = []
    execute, prepared = asyncpg.Connection.execute, asyncpg.Connection._execute

    async def simple(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args:
            sent.append(" ".join(query.split()))
        return await execute(self, query, *args, **kwargs)

    async def extended(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(" ".join(query.split()))
        return await prepared(self, query, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(asyncpg.Connection, "execute", simple)
        patch.setattr(asyncpg.Connection, "_execute", extended)
        yield sent


async def test_create_with_phone_round_trips(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    account = await api.signup()
    body = {"amount": 1500, "currency": "XAF", "phone": "+237670000000"}
    for n in range(2):  # warm the key cache and the connection's statement cache
        response = await api.http.post(
            "/v1/payment_intents",
            json={**body, "reference": f"warm-{n}"},
            headers={**bearer(account.secret_key), "Idempotency-Key": f"warm-{n}"},
        )
        assert response.status_code == 200, response.text
    with orm_statements() as orm, bare_statements(monkeypatch) as bare:
        response = await api.http.post(
            "/v1/payment_intents",
            json={**body, "reference": "counted"},
            headers={**bearer(account.secret_key), "Idempotency-Key": "counted"},
        )
    assert response.status_code == 200, response.text
    # The lean write path: `BEGIN; SELECT set_config(…)` in one message; the intent, its
    # attempt and its outbox job in one statement; both events in one; the Idempotency-Key
    # with its stored response; `COMMIT`. One commit. The ORM sends nothing.
    # 15 round trips and 2 commits before 2026-12-04, 12 and 2 after its first round.
    assert orm == [], orm
    assert len(bare) == 5, bare
    assert bare[0].startswith("BEGIN;"), bare
    assert bare[1].startswith("WITH intent AS (INSERT INTO payment_intents"), bare
    assert ") INSERT INTO outbox" in bare[1], bare
    assert sum(s.startswith("INSERT INTO events") for s in bare) == 1, bare
    assert sum(s.startswith("INSERT INTO idempotency_keys") for s in bare) == 1, bare
    assert bare[-1] == "COMMIT", bare
