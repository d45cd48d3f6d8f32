"""How many statements one create sends to PostgreSQL (docs/benchmarks.md, "Payments"): a guard
against round trips creeping back into the hottest write. Counted on the client side, on every
engine of the process: each statement, each `BEGIN` (sent lazily with the transaction's first
statement) and each `COMMIT`/`ROLLBACK`; prepared statements are cached per connection, so a
warmed-up request sends no `Parse` of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.helpers import Api, bearer


@contextmanager
def statements() -> Iterator[list[str]]:
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


async def test_create_with_phone_round_trips(api: Api) -> None:
    account = await api.signup()
    body = {"amount": 1500, "currency": "XAF", "phone": "+237670000000"}
    for n in range(2):  # warm the connections' statement caches
        response = await api.http.post(
            "/v1/payment_intents",
            json={**body, "reference": f"warm-{n}"},
            headers={**bearer(account.secret_key), "Idempotency-Key": f"warm-{n}"},
        )
        assert response.status_code == 200, response.text
    with statements() as sent:
        response = await api.http.post(
            "/v1/payment_intents",
            json={**body, "reference": "counted"},
            headers={**bearer(account.secret_key), "Idempotency-Key": "counted"},
        )
    assert response.status_code == 200, response.text
    # The key's claim (BEGIN, set_config, INSERT, COMMIT), then BEGIN, set_config, the intent
    # (inserted once, already processing), the outbox job, the stored response, then the
    # commit's flush: both events in one statement, the attempt; COMMIT. 15 before 2026-12-04.
    assert len(sent) <= 12, sent
    assert sum(s.startswith("UPDATE payment_intents") for s in sent) == 0, sent
    assert sum(s.startswith("INSERT INTO events") for s in sent) == 1, sent
