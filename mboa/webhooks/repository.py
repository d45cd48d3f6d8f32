"""All SQL of webhooks: endpoints and the delivery log (API role, row-level security), and the
delivery pipeline (platform role, in the worker)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from mboa.kit.repository import RepositoryBase
from mboa.models import (
    DeliveryStatus,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointStatus,
)

PENDING_WEBHOOKS = (
    "(SELECT count(*) FROM webhook_deliveries pw"
    " WHERE pw.event_id = {event_id} AND pw.status = 'pending')"
)
"""An event's `pending_webhooks` as a scalar subquery on its id (`{event_id}`: a column or a
parameter): for statements that render events in one round trip (the claim below, the Events
API's read path in mboa/events/repository.py). Row-level security applies as to the statement."""


class WebhookEndpointRepository(RepositoryBase[WebhookEndpoint]):
    model = WebhookEndpoint

    def list_statement(self) -> Select[WebhookEndpoint]:
        # Row-level security already limits rows to the request's merchant and mode.
        return select(WebhookEndpoint).where(WebhookEndpoint.deleted_at.is_(None))

    async def count_live(self) -> int:
        statement = select(func.count()).where(WebhookEndpoint.deleted_at.is_(None))
        return int((await self.session.execute(statement)).scalar_one())

    async def get_live(
        self, endpoint_id: str, *, for_update: bool = False
    ) -> WebhookEndpoint | None:
        statement = self.list_statement().where(WebhookEndpoint.id == endpoint_id)
        if for_update:
            statement = statement.with_for_update()
        return await self.get_one_or_none(statement)

    async def enabled(self) -> Sequence[WebhookEndpoint]:
        statement = self.list_statement().where(
            WebhookEndpoint.status == WebhookEndpointStatus.enabled
        )
        return (await self.session.execute(statement.order_by(WebhookEndpoint.id))).scalars().all()

    async def enabled_for(self, tenants: Iterable[tuple[str, bool]]) -> Sequence[WebhookEndpoint]:
        """Enabled endpoints of these (merchant, mode) pairs (platform role: the fan-out)."""
        pairs = list(tenants)
        statement = select(WebhookEndpoint).where(
            WebhookEndpoint.status == WebhookEndpointStatus.enabled,
            WebhookEndpoint.deleted_at.is_(None),
            tuple_(WebhookEndpoint.merchant_id, WebhookEndpoint.livemode).in_(pairs),
        )
        return (await self.session.execute(statement)).scalars().all()

    async def mark_failing(self, endpoint_id: str, now: dt.datetime) -> dt.datetime:
        """Record a failure; returns since when the endpoint has been failing."""
        statement = (
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(failing_since=func.coalesce(WebhookEndpoint.failing_since, now))
            .returning(WebhookEndpoint.failing_since)
        )
        since: dt.datetime | None = (await self.session.execute(statement)).scalar_one()
        assert since is not None
        return since

    async def disable(
        self, endpoint_id: str, *, reason: str, now: dt.datetime
    ) -> WebhookEndpoint | None:
        """Disable an enabled endpoint; None if it was not enabled (someone else did it)."""
        statement = (
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id == endpoint_id,
                WebhookEndpoint.status == WebhookEndpointStatus.enabled,
            )
            .values(status=WebhookEndpointStatus.disabled, disabled_reason=reason, disabled_at=now)
            .returning(WebhookEndpoint)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class WebhookDeliveryRepository(RepositoryBase[WebhookDelivery]):
    model = WebhookDelivery

    # -- the API -------------------------------------------------------------------------------

    def list_statement(
        self, endpoint_id: str, *, event_id: str | None, status: str | None
    ) -> Select[WebhookDelivery]:
        statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        if event_id is not None:
            statement = statement.where(WebhookDelivery.event_id == event_id)
        if status is not None:
            statement = statement.where(WebhookDelivery.status == status)
        return statement

    async def attempts_of(self, delivery_ids: Sequence[str]) -> Sequence[WebhookAttempt]:
        if not delivery_ids:
            return []
        statement = (
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.id.desc())
        )
        return (await self.session.execute(statement)).scalars().all()

    async def event(self, event_id: str) -> Event | None:
        return await self.session.get(Event, event_id)

    async def upsert_for_resend(
        self,
        *,
        delivery_id: str,
        event: Event,
        endpoint: WebhookEndpoint,
        now: dt.datetime,
    ) -> WebhookDelivery:
        """The delivery of this event to this endpoint, created if there was none (then it has
        no automatic schedule: only the resent attempt)."""
        statement = (
            pg_insert(WebhookDelivery)
            .values(
                id=delivery_id,
                merchant_id=event.merchant_id,
                livemode=event.livemode,
                event_id=event.id,
                event_type=event.type,
                endpoint_id=endpoint.id,
                status=DeliveryStatus.pending,
                attempt_count=0,
                next_attempt_at=None,
                created_at=now,
            )
            .on_conflict_do_update(
                index_elements=[WebhookDelivery.event_id, WebhookDelivery.endpoint_id],
                set_={"event_type": event.type},  # a no-op update that returns the row
            )
            .returning(WebhookDelivery)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one()

    # -- the fan-out ---------------------------------------------------------------------------

    async def events(self, event_ids: Sequence[str]) -> Sequence[Event]:
        statement = select(Event).where(Event.id.in_(event_ids)).order_by(Event.id)
        return (await self.session.execute(statement)).scalars().all()

    async def insert_new(self, rows: list[dict[str, Any]]) -> Sequence[RowMapping]:
        """Insert deliveries, skipping those that exist (a fan-out job run twice); returns the
        new ones' `id` and `endpoint_id`."""
        if not rows:
            return []
        statement = (
            pg_insert(WebhookDelivery)
            .values(rows)
            .on_conflict_do_nothing(
                index_elements=[WebhookDelivery.event_id, WebhookDelivery.endpoint_id]
            )
            .returning(WebhookDelivery.id, WebhookDelivery.endpoint_id)
        )
        return (await self.session.execute(statement)).mappings().all()

    # -- one attempt ---------------------------------------------------------------------------

    # The lease, the endpoint and the event (absent once pruned: `event_type` is then null) in
    # one statement: the body is rendered from this row (mboa/webhooks/rendering.py).
    _CLAIM = text(
        f"""
        WITH c AS (
            UPDATE webhook_deliveries d SET leased_until = :until
            FROM webhook_endpoints w
            WHERE d.id = :id AND w.id = d.endpoint_id
              AND (d.leased_until IS NULL OR d.leased_until <= :now)
              AND (:resend OR (d.status = 'pending' AND d.next_attempt_at <= :due))
            RETURNING d.id, d.merchant_id, d.livemode, d.event_id, d.endpoint_id, d.status,
                      d.attempt_count, d.next_attempt_at, d.created_at,
                      w.url, w.status AS endpoint_status, w.deleted_at AS endpoint_deleted_at,
                      w.secret_ciphertext, w.previous_secret_ciphertext,
                      w.previous_secret_expires_at
        )
        SELECT c.*, e.type AS event_type, e.created_at AS event_created_at,
               e.data AS event_data, e.sequence AS event_sequence,
               e.request_id AS event_request_id, e.idempotency_key AS event_idempotency_key,
               {PENDING_WEBHOOKS.format(event_id="c.event_id")} AS pending_webhooks
        FROM c LEFT JOIN events e ON e.id = c.event_id
        """  # noqa: S608 - constants
    )
    _LEASE = text("SELECT status, leased_until FROM webhook_deliveries WHERE id = :id")

    async def claim(
        self,
        delivery_id: str,
        *,
        now: dt.datetime,
        until: dt.datetime,
        resend: bool,
        due: dt.datetime,
    ) -> RowMapping | None:
        """Lease the delivery for one attempt, with what the attempt needs from its endpoint;
        None if it is leased by another attempt, or (automatic) not pending or not due."""
        result = await self.session.execute(
            self._CLAIM,
            {
                "id": delivery_id,
                "now": now,
                "until": until,
                "resend": resend,
                "due": due,
            },
        )
        return result.mappings().one_or_none()

    async def lease_of(self, delivery_id: str) -> RowMapping | None:
        return (await self.session.execute(self._LEASE, {"id": delivery_id})).mappings().first()

    async def give_up(self, delivery_id: str) -> None:
        """No more attempts (the endpoint is disabled or deleted, or the event is gone)."""
        await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status=DeliveryStatus.failed, next_attempt_at=None, leased_until=None)
        )

    async def release(self, delivery_id: str) -> None:
        await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(leased_until=None)
        )

    _RECORD = text(
        """
        WITH d AS (
            UPDATE webhook_deliveries SET
                status = :status,
                attempt_count = attempt_count + 1,
                last_attempt_at = :now,
                succeeded_at = CASE WHEN :succeeded THEN :now ELSE succeeded_at END,
                next_attempt_at = :next_attempt_at,
                leased_until = NULL
            WHERE id = :id
            RETURNING id, merchant_id, livemode, endpoint_id
        ), recovered AS (
            -- A success: the endpoint is no longer failing (a no-op unless it was).
            UPDATE webhook_endpoints SET failing_since = NULL
            WHERE :succeeded AND id = (SELECT endpoint_id FROM d) AND failing_since IS NOT NULL
        )
        INSERT INTO webhook_attempts (delivery_id, trigger, outcome, http_status, latency_ms,
                                      response_body, error, next_retry_at, merchant_id,
                                      livemode, created_at)
        SELECT d.id, :trigger, :outcome, :http_status, :latency_ms, :response_body, :error,
               :next_attempt_at, d.merchant_id, d.livemode, :now
        FROM d
        """
    )

    async def record(
        self,
        delivery_id: str,
        *,
        status: str,
        trigger: str,
        now: dt.datetime,
        next_attempt_at: dt.datetime | None,
        http_status: int | None,
        latency_ms: int | None,
        response_body: str | None,
        error: str | None,
    ) -> None:
        """The attempt in the log, its outcome on the delivery and, on a success, the
        endpoint's recovery: one statement (it stands alone: mboa/webhooks/tasks.py runs a
        success outside a transaction)."""
        succeeded = status == DeliveryStatus.succeeded
        await self.session.execute(
            self._RECORD,
            {
                "id": delivery_id,
                "status": status,
                "succeeded": succeeded,
                "now": now,
                "next_attempt_at": next_attempt_at,
                "trigger": trigger,
                "outcome": "succeeded" if succeeded else "failed",
                "http_status": http_status,
                "latency_ms": latency_ms,
                # PostgreSQL text cannot hold NUL; an answer may.
                "response_body": response_body.replace("\x00", "\ufffd")
                if response_body
                else response_body,
                "error": error,
            },
        )

    async def overdue(
        self, before: dt.datetime, now: dt.datetime, limit: int
    ) -> Sequence[RowMapping]:
        """Pending deliveries whose attempt should have happened before `before` and that no
        attempt holds: their job was lost (a Redis that lost its data)."""
        statement = (
            select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.attempt_count)
            .where(
                WebhookDelivery.status == DeliveryStatus.pending,
                WebhookDelivery.next_attempt_at < before,
                (WebhookDelivery.leased_until.is_(None)) | (WebhookDelivery.leased_until < now),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        return (await self.session.execute(statement)).mappings().all()


# -- for the Events API (mboa/events/repository.py): the event object's webhook fields ---------


def delivery_success_clause(
    event_id: ColumnElement[str] | InstrumentedAttribute[str], success: bool
) -> ColumnElement[bool]:
    """`delivery_success=false`: the event has a delivery that has not succeeded (pending or
    given up). `true`: every delivery of the event succeeded (an event without deliveries
    counts as delivered: there was nothing to deliver)."""
    undelivered = exists().where(
        WebhookDelivery.event_id == event_id,
        WebhookDelivery.status != DeliveryStatus.succeeded,
    )
    return ~undelivered if success else undelivered


async def pending_webhooks(session: AsyncSession, event_ids: Sequence[str]) -> dict[str, int]:
    """`pending_webhooks` of each event: its deliveries not yet succeeded nor given up."""
    if not event_ids:
        return {}
    statement = (
        select(WebhookDelivery.event_id, func.count())
        .where(
            WebhookDelivery.event_id.in_(event_ids),
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .group_by(WebhookDelivery.event_id)
    )
    counts = {row[0]: int(row[1]) for row in (await session.execute(statement)).all()}
    return {event_id: counts.get(event_id, 0) for event_id in event_ids}
