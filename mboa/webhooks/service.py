"""Webhook endpoints (the API) and the delivery of events to them (the worker's tasks)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.service import Action as AuditAction
from mboa.audit.service import audit
from mboa.auth.subject import AuthSubject
from mboa.config import WebhooksSettings
from mboa.events.service import event as event_service
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import ListParams
from mboa.kit.schemas import merge_metadata
from mboa.kit.time import utc_now
from mboa.mail.service import mail
from mboa.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointStatus,
)
from mboa.webhooks import signing
from mboa.webhooks.crypto import SecretBox
from mboa.webhooks.event_types import matches
from mboa.webhooks.exceptions import (
    EventNotFound,
    WebhookEndpointDisabled,
    WebhookEndpointLimit,
    WebhookEndpointNotFound,
    WebhookUrlInvalid,
)
from mboa.webhooks.rendering import event_body
from mboa.webhooks.repository import WebhookDeliveryRepository, WebhookEndpointRepository
from mboa.webhooks.schedule import next_attempt
from mboa.webhooks.schemas import (
    WebhookEndpoint as WebhookEndpointObject,
)
from mboa.webhooks.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)
from mboa.webhooks.sender import AttemptResult
from mboa.webhooks.targets import TargetRefused, check_url
from mboa.worker import enqueue, enqueue_many

DELIVER_TASK = "webhooks.deliver"
DISABLED_EVENT = "webhook_endpoint.disabled"
DUE_SLACK = dt.timedelta(seconds=1)
"""An automatic attempt runs if due within this (clocks of two workers differ a little)."""


def deliver_job(
    delivery_id: str, endpoint_id: str, *, tag: str, trigger: str = "automatic"
) -> tuple[str, dict[str, Any]]:
    """The job id and payload of one attempt. The job id names the attempt, so an outbox row
    relayed twice is one BullMQ job."""
    payload = {"delivery_id": delivery_id, "endpoint_id": endpoint_id}
    if trigger != "automatic":
        payload["trigger"] = trigger
    return f"{DELIVER_TASK}:{delivery_id}:{tag}", payload


DeliveryPage = list[tuple[WebhookDelivery, list[WebhookAttempt]]]
_AUDITED = {"url", "enabled_events", "description", "status", "disabled_reason", "metadata"}


def _audited(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the audit log keeps of an endpoint (never its secret)."""
    view = WebhookEndpointObject.model_validate(endpoint)
    return view.model_dump(mode="json", include=_AUDITED)


async def _audit(
    session: AsyncSession,
    action: AuditAction,
    endpoint: WebhookEndpoint,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await audit.record(
        session,
        action=action,
        target=("webhook_endpoint", endpoint.id),
        merchant_id=endpoint.merchant_id,
        livemode=endpoint.livemode,
        before=before,
        after=after,
    )


Deliveries = list[WebhookDelivery]


class WebhookEndpointService:
    async def create(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        *,
        body: WebhookEndpointCreate,
        box: SecretBox,
        settings: WebhooksSettings,
    ) -> tuple[WebhookEndpoint, str]:
        """The new endpoint and its secret (shown once)."""
        livemode = auth.tenant.livemode
        self._check_url(body.url, livemode=livemode)
        repository = WebhookEndpointRepository.from_session(session)
        if await repository.count_live() >= settings.max_endpoints:
            raise WebhookEndpointLimit(
                f"A merchant can have at most {settings.max_endpoints} webhook endpoints per mode;"
                " delete one first.",
                param="url",
            )
        endpoint_id = new_id(Prefix.webhook_endpoint)
        secret = signing.new_secret()
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            merchant_id=auth.tenant.merchant_id,
            livemode=livemode,
            url=body.url,
            description=body.description,
            enabled_events=body.enabled_events,
            status=WebhookEndpointStatus.enabled,
            secret_ciphertext=box.encrypt(secret, endpoint_id=endpoint_id),
            metadata_=body.metadata or {},
            created_at=utc_now(),
        )
        await repository.add(endpoint)
        await _audit(
            session, AuditAction.webhook_endpoint_created, endpoint, None, _audited(endpoint)
        )
        return endpoint, secret

    def _check_url(self, url: str, *, livemode: bool) -> None:
        try:
            check_url(url, livemode=livemode)
        except TargetRefused as exc:
            raise WebhookUrlInvalid(f"Invalid url: {exc}.", param="url") from None

    async def get(
        self, session: AsyncSession, endpoint_id: str, *, for_update: bool = False
    ) -> WebhookEndpoint:
        endpoint = await WebhookEndpointRepository.from_session(session).get_live(
            endpoint_id, for_update=for_update
        )
        if endpoint is None:
            raise WebhookEndpointNotFound(f"No such webhook endpoint: '{endpoint_id}'", param="id")
        return endpoint

    async def list(
        self, session: AsyncSession, params: ListParams
    ) -> tuple[Sequence[WebhookEndpoint], bool]:
        repository = WebhookEndpointRepository.from_session(session)
        return await repository.paginate(repository.list_statement(), params)

    async def update(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        endpoint_id: str,
        *,
        body: WebhookEndpointUpdate,
    ) -> WebhookEndpoint:
        endpoint = await self.get(session, endpoint_id, for_update=True)
        before = _audited(endpoint)
        fields = body.model_fields_set
        if "url" in fields and body.url is not None:
            self._check_url(body.url, livemode=auth.tenant.livemode)
            endpoint.url = body.url
        if "enabled_events" in fields and body.enabled_events is not None:
            endpoint.enabled_events = body.enabled_events
        if "description" in fields:
            endpoint.description = body.description
        if "status" in fields and body.status is not None and body.status != endpoint.status:
            endpoint.status = body.status
            if body.status == WebhookEndpointStatus.enabled:
                # A fresh start: failures before the merchant re-enabled it do not count.
                endpoint.failing_since = None
                endpoint.disabled_reason = None
                endpoint.disabled_at = None
            else:
                endpoint.disabled_reason = "manual"
                endpoint.disabled_at = utc_now()
        endpoint.metadata_ = merge_metadata(endpoint.metadata_, body.metadata)
        await session.flush()
        after = _audited(endpoint)
        changed = {key for key in after if after[key] != before[key]}
        await _audit(
            session,
            AuditAction.webhook_endpoint_updated,
            endpoint,
            {key: before[key] for key in sorted(changed)},
            {key: after[key] for key in sorted(changed)},
        )
        return endpoint

    async def delete(self, session: AsyncSession, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self.get(session, endpoint_id, for_update=True)
        before = _audited(endpoint)
        endpoint.deleted_at = utc_now()
        endpoint.status = WebhookEndpointStatus.disabled
        endpoint.disabled_reason = "deleted"
        await session.flush()
        await _audit(session, AuditAction.webhook_endpoint_deleted, endpoint, before, None)
        return endpoint

    async def roll_secret(
        self, session: AsyncSession, endpoint_id: str, *, expires_in: int, box: SecretBox
    ) -> tuple[WebhookEndpoint, str]:
        """A new secret; the current one keeps signing for `expires_in` seconds beside it (both
        signatures are sent meanwhile)."""
        endpoint = await self.get(session, endpoint_id, for_update=True)
        secret = signing.new_secret()
        if expires_in > 0:
            endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
            endpoint.previous_secret_expires_at = utc_now() + dt.timedelta(seconds=expires_in)
        else:
            endpoint.previous_secret_ciphertext = None
            endpoint.previous_secret_expires_at = None
        endpoint.secret_ciphertext = box.encrypt(secret, endpoint_id=endpoint.id)
        await session.flush()
        await _audit(
            session,
            AuditAction.webhook_endpoint_secret_rolled,
            endpoint,
            None,
            {"overlap_seconds": expires_in},
        )
        return endpoint, secret

    async def list_deliveries(
        self,
        session: AsyncSession,
        endpoint_id: str,
        params: ListParams,
        *,
        event_id: str | None,
        outcome: str | None,
    ) -> tuple[DeliveryPage, bool]:
        await self.get(session, endpoint_id)
        repository = WebhookDeliveryRepository.from_session(session)
        statement = repository.list_statement(endpoint_id, event_id=event_id, status=outcome)
        rows, has_more = await repository.paginate(statement, params)
        attempts: dict[str, list[WebhookAttempt]] = {}
        for attempt in await repository.attempts_of([row.id for row in rows]):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
        return [(row, attempts.get(row.id, [])) for row in rows], has_more

    async def resend(
        self, session: AsyncSession, event_id: str, *, endpoint_id: str | None
    ) -> Deliveries:
        """One attempt more of the event to one endpoint, or to every enabled endpoint that
        takes its type, whether or not it was delivered before."""
        deliveries = WebhookDeliveryRepository.from_session(session)
        event = await deliveries.event(event_id)
        if event is None:
            raise EventNotFound(f"No such event: '{event_id}'", param="id")
        if endpoint_id is not None:
            endpoint = await WebhookEndpointRepository.from_session(session).get_live(endpoint_id)
            if endpoint is None:
                raise WebhookEndpointNotFound(
                    f"No such webhook endpoint: '{endpoint_id}'", param="endpoint"
                )
            if endpoint.status != WebhookEndpointStatus.enabled:
                raise WebhookEndpointDisabled(
                    f"The webhook endpoint '{endpoint_id}' is disabled: enable it first.",
                    param="endpoint",
                )
            targets = [endpoint]
        else:
            targets = [
                e
                for e in await WebhookEndpointRepository.from_session(session).enabled()
                if matches(e.enabled_events, event.type)
            ]
        now = utc_now()
        resent = []
        for endpoint in targets:
            delivery = await deliveries.upsert_for_resend(
                delivery_id=new_id(Prefix.webhook_delivery), event=event, endpoint=endpoint, now=now
            )
            job_id, payload = deliver_job(
                delivery.id, endpoint.id, tag=f"resend:{new_id('r')}", trigger="resend"
            )
            await enqueue(session, DELIVER_TASK, payload, job_id=job_id)
            resent.append(delivery)
        return resent


def _event_row(claimed: RowMapping) -> dict[str, Any]:
    """The event's columns of a claimed delivery, under the names `as_object` reads."""
    data = claimed["event_data"]
    return {
        "id": claimed["event_id"],
        "type": claimed["event_type"],
        "livemode": claimed["livemode"],
        "created_at": claimed["event_created_at"],
        # A text statement's jsonb arrives as its JSON text.
        "data": orjson.loads(data) if isinstance(data, str | bytes) else data,
        "sequence": claimed["event_sequence"],
        "request_id": claimed["event_request_id"],
        "idempotency_key": claimed["event_idempotency_key"],
    }


@dataclasses.dataclass(frozen=True)
class Prepared:
    """An attempt, ready to send."""

    delivery: RowMapping
    url: str
    livemode: bool
    headers: dict[str, str]
    body: bytes
    resend: bool


@dataclasses.dataclass(frozen=True)
class Busy:
    """Another attempt of the delivery holds it until then."""

    until: dt.datetime


class WebhookDeliveryService:
    async def fan_out(
        self, session: AsyncSession, event_ids: Sequence[str], *, now: dt.datetime
    ) -> int:
        """One delivery, and one delivery job, per event and enabled endpoint that takes its
        type; deliveries that exist already (the job ran before) are skipped. Returns how many
        were created."""
        deliveries = WebhookDeliveryRepository.from_session(session)
        events = await deliveries.events(event_ids)
        if not events:
            return 0
        endpoints = await WebhookEndpointRepository.from_session(session).enabled_for(
            {(e.merchant_id, e.livemode) for e in events}
        )
        rows = [
            {
                "id": new_id(Prefix.webhook_delivery),
                "merchant_id": event.merchant_id,
                "livemode": event.livemode,
                "event_id": event.id,
                "event_type": event.type,
                "endpoint_id": endpoint.id,
                "status": DeliveryStatus.pending,
                "attempt_count": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event in events
            for endpoint in endpoints
            if endpoint.merchant_id == event.merchant_id
            and endpoint.livemode == event.livemode
            and matches(endpoint.enabled_events, event.type)
        ]
        created = await deliveries.insert_new(rows)
        await enqueue_many(
            session,
            DELIVER_TASK,
            [deliver_job(row["id"], row["endpoint_id"], tag="1") for row in created],
        )
        return len(created)

    async def claim(
        self,
        session: AsyncSession,
        delivery_id: str,
        *,
        box: SecretBox,
        lease: dt.timedelta,
        resend: bool,
        now: dt.datetime,
    ) -> Prepared | Busy | None:
        """Lease the delivery for one attempt and prepare the request; `Busy` if another attempt
        holds it, None if there is nothing to send (done, not due, endpoint or event gone)."""
        deliveries = WebhookDeliveryRepository.from_session(session)
        claimed = await deliveries.claim(
            delivery_id, now=now, until=now + lease, resend=resend, due=now + DUE_SLACK
        )
        if claimed is None:
            lease_row = await deliveries.lease_of(delivery_id)
            until = lease_row["leased_until"] if lease_row is not None else None
            if until is not None and until > now:
                return Busy(until)
            return None
        if claimed["endpoint_status"] != WebhookEndpointStatus.enabled:
            if not resend:  # retries stop once the endpoint is disabled or deleted
                await deliveries.give_up(delivery_id)
            else:
                await deliveries.release(delivery_id)
            return None
        if claimed["event_type"] is None:  # pruned after its retention
            await deliveries.give_up(delivery_id)
            return None
        endpoint_id = claimed["endpoint_id"]
        secrets = [box.decrypt(claimed["secret_ciphertext"], endpoint_id=endpoint_id)]
        previous, expires = (
            claimed["previous_secret_ciphertext"],
            claimed["previous_secret_expires_at"],
        )
        if previous is not None and expires is not None and expires > now:
            secrets.append(box.decrypt(previous, endpoint_id=endpoint_id))
        body = event_body(_event_row(claimed), pending_webhooks=int(claimed["pending_webhooks"]))
        headers = signing.headers(
            secrets, msg_id=claimed["event_id"], timestamp=int(now.timestamp()), body=body
        )
        return Prepared(claimed, claimed["url"], bool(claimed["livemode"]), headers, body, resend)

    async def record(
        self,
        session: AsyncSession,
        prepared: Prepared,
        result: AttemptResult,
        *,
        settings: WebhooksSettings,
        now: dt.datetime,
    ) -> None:
        """The attempt's outcome: the log, the delivery's state, the next attempt (through the
        outbox), and the endpoint's health (disabled on 410 or after failing too long)."""
        delivery = prepared.delivery
        deliveries = WebhookDeliveryRepository.from_session(session)
        endpoints = WebhookEndpointRepository.from_session(session)
        endpoint_id = delivery["endpoint_id"]

        async def log(status: str, next_attempt_at: dt.datetime | None) -> None:
            await deliveries.record(
                delivery["id"],
                status=status,
                next_attempt_at=next_attempt_at,
                trigger="resend" if prepared.resend else "automatic",
                now=now,
                http_status=result.http_status,
                latency_ms=result.latency_ms,
                response_body=result.response_body,
                error=result.error,
            )

        if result.succeeded:  # one statement (the endpoint's recovery included)
            await log(DeliveryStatus.succeeded, None)
            return

        failing_since = await endpoints.mark_failing(endpoint_id, now)
        disable_reason = None
        if result.http_status == 410:
            disable_reason = "gone"
        elif (now - failing_since).total_seconds() >= settings.disable_after_seconds:
            disable_reason = "failing"

        scheduled = delivery["status"] == DeliveryStatus.pending and (
            delivery["next_attempt_at"] is not None
        )
        next_at: dt.datetime | None
        if disable_reason is not None:
            status, next_at = DeliveryStatus.failed, None
        elif prepared.resend:
            # A resend adds one attempt: it neither starts nor moves the automatic schedule,
            # and does not undo an earlier success.
            if scheduled:
                status, next_at = DeliveryStatus.pending, delivery["next_attempt_at"]
            elif delivery["status"] == DeliveryStatus.succeeded:
                status, next_at = DeliveryStatus.succeeded, None
            else:
                status, next_at = DeliveryStatus.failed, None
        else:
            next_at = next_attempt(
                settings,
                failures=int(delivery["attempt_count"]) + 1,
                created_at=delivery["created_at"],
                now=now,
            )
            status = DeliveryStatus.pending if next_at is not None else DeliveryStatus.failed
        await log(status, next_at)
        if next_at is not None and not prepared.resend:
            job_id, payload = deliver_job(
                delivery["id"], endpoint_id, tag=str(int(delivery["attempt_count"]) + 2)
            )
            delay_ms = max(0, int((next_at - now).total_seconds() * 1000))
            await enqueue(session, DELIVER_TASK, payload, job_id=job_id, delay_ms=delay_ms)
        if disable_reason is not None:
            await self.disable(session, endpoint_id, reason=disable_reason, now=now)

    async def disable(
        self, session: AsyncSession, endpoint_id: str, *, reason: str, now: dt.datetime
    ) -> None:
        """Disable the endpoint, write `webhook_endpoint.disabled` and record a notice to the
        merchant's members who want it (sent by the mailer: docs/dashboard.md, "E-mail")."""
        endpoints = WebhookEndpointRepository.from_session(session)
        endpoint = await endpoints.disable(endpoint_id, reason=reason, now=now)
        if endpoint is None:
            return
        snapshot = WebhookEndpointObject.model_validate(endpoint).model_dump(
            mode="json", exclude={"secret"}
        )
        event_service.add(
            session,
            merchant_id=endpoint.merchant_id,
            livemode=endpoint.livemode,
            type=DISABLED_EVENT,
            snapshot=snapshot,
        )
        why = (
            "it answered 410 Gone"
            if reason == "gone"
            else f"every delivery to it has failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
        )
        mode = "live" if endpoint.livemode else "test"
        await mail.notify_members(
            session,
            kind=DISABLED_EVENT,
            merchant_id=endpoint.merchant_id,
            livemode=endpoint.livemode,
            subject=f"Mboa Pay: your {mode}-mode webhook endpoint was disabled",
            body=(
                f"We disabled your webhook endpoint {endpoint.id} ({endpoint.url}) because"
                f" {why}. Events are no longer sent to it. Fix the endpoint, enable it again,"
                " and resend the events it missed (POST /v1/events/{id}/resend)."
            ),
            data={"webhook_endpoint": endpoint.id, "url": endpoint.url, "reason": reason},
        )

    async def sweep(
        self, session: AsyncSession, *, settings: WebhooksSettings, now: dt.datetime
    ) -> int:
        """Send a job again for each pending delivery long overdue and not leased: its job was
        lost (a Redis that lost its data). A job that still exists is not doubled (same id),
        and an attempt that was made meanwhile makes the new job a no-op."""
        overdue = await WebhookDeliveryRepository.from_session(session).overdue(
            now - dt.timedelta(seconds=settings.sweep_after_seconds), now, limit=1000
        )
        minute = int(now.timestamp()) // 60
        await enqueue_many(
            session,
            DELIVER_TASK,
            [
                deliver_job(
                    row["id"], row["endpoint_id"], tag=f"{row['attempt_count'] + 1}:swept:{minute}"
                )
                for row in overdue
            ],
        )
        return len(overdue)


webhook_endpoint = WebhookEndpointService()
webhook_delivery = WebhookDeliveryService()
