from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import Select, and_, or_, select, update

from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.models import PaymentAttempt, PaymentIntent
from mboa.worker.repository import outbox_insert_sql


class PaymentIntentRepository(RepositoryBase[PaymentIntent]):
    model = PaymentIntent

    async def get_for_update(self, intent_id: str) -> PaymentIntent | None:
        return await self.session.get(PaymentIntent, intent_id, with_for_update=True)

    def list_statement(
        self,
        *,
        status: str | None = None,
        provider: str | None = None,
        reference: str | None = None,
        customer: str | None = None,
        phone: str | None = None,
        created: CreatedRange | None = None,
    ) -> Select[PaymentIntent]:
        statement = select(PaymentIntent)
        for column, value in (
            (PaymentIntent.status, status),
            (PaymentIntent.provider, provider),
            (PaymentIntent.reference, reference),
            (PaymentIntent.customer_id, customer),
            (PaymentIntent.phone, phone),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if created is not None:
            statement = statement.where(*created.clauses(PaymentIntent.created_at))
        return statement

    async def expired_ids(self, now: dt.datetime, limit: int) -> list[str]:
        """Intents past `expires_at` that are not final yet (platform role: every merchant)."""
        statement = (
            select(PaymentIntent.id)
            .where(
                PaymentIntent.status.in_(("requires_payment_method", "processing")),
                PaymentIntent.expires_at <= now,
            )
            .order_by(PaymentIntent.expires_at)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())


UNKNOWN_FAILURE_CODE = "operator_error"
"""`failure_code` of an attempt we failed for an outage (payments.service.UNKNOWN_FAILURE)."""


class PaymentAttemptRepository(RepositoryBase[PaymentAttempt]):
    model = PaymentAttempt

    async def get_for_update(self, attempt_id: str) -> PaymentAttempt | None:
        return await self.session.get(PaymentAttempt, attempt_id, with_for_update=True)

    async def latest_of(self, intents: Sequence[PaymentIntent]) -> dict[str, PaymentAttempt]:
        ids = [i.latest_attempt_id for i in intents if i.latest_attempt_id]
        if not ids:
            return {}
        rows = await self.session.execute(select(PaymentAttempt).where(PaymentAttempt.id.in_(ids)))
        return {a.id: a for a in rows.scalars()}

    async def set_reference(self, attempt_id: str, reference: str) -> str:
        """Store the operator reference once; a concurrent run keeps the first one stored."""
        await self.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == attempt_id, PaymentAttempt.operator_reference.is_(None))
            .values(operator_reference=reference)
        )
        stored = await self.session.execute(
            select(PaymentAttempt.operator_reference).where(PaymentAttempt.id == attempt_id)
        )
        return str(stored.scalar_one())

    async def mark_outcome_unknown(self, attempt_id: str, reason: str) -> None:
        """Remember on an attempt not yet sent that a try's outcome was unknown (`raw_reason`,
        payments.service.OUTCOME_UNKNOWN); a final attempt is left alone."""
        await self.session.execute(
            update(PaymentAttempt)
            .where(
                PaymentAttempt.id == attempt_id,
                PaymentAttempt.status == "pending",
                PaymentAttempt.sent_at.is_(None),
            )
            .values(raw_reason=reason)
        )

    async def due_for_check(self, now: dt.datetime, limit: int) -> list[str]:
        """Pending attempts whose status read is due, then failed ones still watched (failed
        for an unknown outcome: payments.service.watched_failure), up to `limit` each: the
        watched ones never delay a pending one's read."""
        pending = (
            select(PaymentAttempt.id)
            .where(PaymentAttempt.status == "pending", PaymentAttempt.next_check_at <= now)
            .order_by(PaymentAttempt.next_check_at)
            .limit(limit)
        )
        watched = (
            select(PaymentAttempt.id)
            .where(
                PaymentAttempt.status == "failed",
                PaymentAttempt.failure_code == UNKNOWN_FAILURE_CODE,
                PaymentAttempt.next_check_at <= now,
            )
            .order_by(PaymentAttempt.next_check_at)
            .limit(limit)
        )
        found = list((await self.session.execute(pending)).scalars())
        return found + list((await self.session.execute(watched)).scalars())

    async def schedule_check(self, attempt_id: str, at: dt.datetime) -> None:
        """The next status read of a pending attempt, or of a failed one still watched."""
        await self.session.execute(
            update(PaymentAttempt)
            .where(
                PaymentAttempt.id == attempt_id,
                or_(
                    PaymentAttempt.status == "pending",
                    and_(
                        PaymentAttempt.status == "failed",
                        PaymentAttempt.next_check_at.is_not(None),
                    ),
                ),
            )
            .values(next_check_at=at, status_checks=PaymentAttempt.status_checks + 1)
        )

    async def stop_watching(self, attempt_id: str) -> None:
        """No more status reads for a failed attempt."""
        await self.session.execute(
            update(PaymentAttempt)
            .where(PaymentAttempt.id == attempt_id, PaymentAttempt.status == "failed")
            .values(next_check_at=None)
        )


class PaymentIntentReads:
    """The read path (`mboa.postgres`): one statement, intent and latest attempt, under the same
    row-level security as the session. Keys are the ORM's attribute names."""

    _GET = (
        "SELECT i.id, i.livemode, i.created_at, i.metadata AS metadata_, i.amount, i.currency,"
        " i.reference, i.description, i.customer_id, i.status, i.cancellation_reason,"
        " i.canceled_at, i.expires_at, i.provider, i.amount_received, i.fee, i.net,"
        " i.amount_refunded, i.refund_due, i.last_payment_error,"
        " a.id AS a_id, a.provider AS a_provider, a.flow AS a_flow,"
        " a.phone_masked AS a_phone_masked, a.status AS a_status,"
        " a.operator_reference AS a_operator_reference,"
        " a.operator_transaction_id AS a_operator_transaction_id,"
        " a.failure_code AS a_failure_code, a.created_at AS a_created_at,"
        " a.redirect_url AS a_redirect_url"
        " FROM payment_intents i LEFT JOIN payment_attempts a ON a.id = i.latest_attempt_id"
        " WHERE i.id = $1"
    )

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def get(self, intent_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        row = await self.connection.fetchrow(self._GET, intent_id)
        if row is None:
            return None
        intent: dict[str, Any] = {}
        attempt: dict[str, Any] = {}
        for key, value in row.items():
            if key.startswith("a_"):
                attempt[key[2:]] = value
            else:
                intent[key] = value
        return intent, (attempt if attempt["id"] is not None else None)


_INTENT_COLUMNS = (
    "id",
    "merchant_id",
    "livemode",
    "created_at",
    "metadata",
    "amount",
    "currency",
    "reference",
    "description",
    "customer_id",
    "status",
    "expires_at",
    "provider",
    "phone",
    "amount_received",
    "fee",
    "net",
    "amount_refunded",
    "refund_due",
    "latest_attempt_id",
)
_ATTEMPT_COLUMNS = (
    "id",
    "merchant_id",
    "livemode",
    "created_at",
    "payment_intent_id",
    "provider",
    "flow",
    "phone",
    "phone_masked",
    "amount",
    "currency",
    "status",
    "operator_reference",
    "next_check_at",
    "status_checks",
)


def _insert(table: str, columns: tuple[str, ...], first: int) -> str:
    placeholders = ", ".join(f"${first + i}" for i in range(len(columns)))
    # Table and column names are this module's constants; every value is a parameter.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608


class PaymentIntentWrites:
    """The lean write path of `POST /v1/payment_intents` (`mboa.routing`, `WritesDep`): the new
    intent, with its first attempt and that attempt's outbox job, in ONE statement (a
    data-modifying CTE), so one round trip, under the same row-level security as the session.
    Rows are keyed by column name (`metadata`, not the ORM's `metadata_`)."""

    _INTENT = _insert("payment_intents", _INTENT_COLUMNS, 1)
    _WITH_ATTEMPT = (
        f"WITH intent AS ({_INTENT}), attempt AS ("
        f"{_insert('payment_attempts', _ATTEMPT_COLUMNS, len(_INTENT_COLUMNS) + 1)}) "
        + outbox_insert_sql(len(_INTENT_COLUMNS) + len(_ATTEMPT_COLUMNS) + 1)
    )

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def insert(
        self,
        intent: dict[str, Any],
        attempt: dict[str, Any] | None,
        job: tuple[str, Any, str] | None,
    ) -> None:
        """Raises asyncpg's `UniqueViolationError` when the reference is taken (the caller's
        transaction is then aborted: it rolls back)."""
        values = [intent[column] for column in _INTENT_COLUMNS]
        if attempt is None:
            await self.connection.execute(self._INTENT, *values)
            return
        assert job is not None, "an attempt is sent by its job"
        values += [attempt[column] for column in _ATTEMPT_COLUMNS]
        await self.connection.execute(self._WITH_ATTEMPT, *values, *job)
