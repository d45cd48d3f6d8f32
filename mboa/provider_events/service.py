"""Inbound operator callbacks: store, de-duplicate, then confirm by a status read.

Neither operator signs its callbacks, MTN sends each one once and often without the reference
(docs/providers-wire.md §1.9), and Orange's payloads are UNVERIFIED (§2.1, §2.2). So a callback is a
hint: `receive()` stores it (a duplicate only bumps a counter) and enqueues one confirmation job;
`confirm()` reads the operator's status and records that answer on the event. Nothing here
changes a payment: the payment lifecycle will hook in on the confirmed status later.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.disbursements.service import kind_of
from mboa.exceptions import NotFound
from mboa.kit.faults import crash_point
from mboa.kit.ids import Prefix, new_id
from mboa.kit.time import utc_now
from mboa.metrics import after_commit
from mboa.models import CallbackResult, CallbackVerification
from mboa.payments import metrics as payment_metrics
from mboa.payments.service import payment_intent as payment_intent_service
from mboa.postgres import Database
from mboa.provider_events.exceptions import RetryLater
from mboa.provider_events.repository import ProviderEventRepository
from mboa.providers.base import PaymentProvider
from mboa.providers.errors import (
    InvalidNotification,
    ProviderConfigurationError,
    ProviderError,
    ProviderNotFound,
)
from mboa.providers.notifications import dedupe_key
from mboa.providers.types import (
    CollectionFlow,
    Product,
    ProviderName,
    ProviderNotification,
    TransactionRef,
    TransactionResult,
)
from mboa.worker import enqueue

if TYPE_CHECKING:
    from mboa.providers.registry import ProviderRegistry

log = structlog.get_logger("mboa.providers.callbacks")

CONFIRM_TASK = "providers.confirm_callback"
PAYMENT_SYNC_TASK = "payments.sync_attempt"
"""Applies an operator's status to a payment attempt (`mboa.payments.tasks`)."""
PAYMENT_ATTEMPT = f"{Prefix.payment_attempt}_"
MAX_STORED_BODY = 64 * 1024
"""Real callbacks are a few hundred bytes (§1.9, §2.2); anything bigger is kept truncated."""
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "x-reference-id",
)
"""Headers worth keeping for audit; operators send no credentials, but we still keep an allow-list."""
# Operator references go into the path of an authenticated status read: only plain tokens
# (MTN UUIDs, Orange payTokens) are ever sent, never whatever an unauthenticated body says.
_SAFE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def confirm_job_id(event_id: str) -> str:
    """Fixed per event, so a re-relayed outbox row cannot start a second confirmation."""
    return f"{CONFIRM_TASK}:{event_id}"


def provider_for(providers: ProviderRegistry, name: str) -> PaymentProvider:
    """The adapter for a callback path's `{provider}`; unknown or disabled -> 404."""
    try:
        provider_name = ProviderName(name)
        return providers.get(provider_name)
    except (ValueError, ProviderConfigurationError):
        raise NotFound(f"No such provider: '{name[:40]}'", param="provider") from None


# -- receipt -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Received:
    event_id: str
    first_sighting: bool
    duplicate_count: int
    parsed: bool
    verification: CallbackVerification
    enqueued: bool


def stored_size(body: bytes) -> int:
    """The bytes a callback's row keeps of its body (what the per-provider byte cap counts)."""
    return min(len(body), MAX_STORED_BODY)


def _dedupe_key(provider: ProviderName, note: ProviderNotification | None, body: bytes) -> str:
    """One row, and so at most one status read, per provider and body, whichever attempt path
    the body came on: a real body names its own attempt (MTN's `externalId`, Orange's order id
    and pay token), so the same body on another path is a replay, not another callback. The
    row keeps the first path; later deliveries only count (`duplicate_count`)."""
    if note is None:
        digest = hashlib.sha256(f"{provider.value}|".encode() + body).hexdigest()
        return f"{provider.value}:raw:{digest[:32]}"
    return dedupe_key(provider, None, note.payload)


async def callback_expected(session: AsyncSession, provider: ProviderName, attempt_id: str) -> bool:
    """Whether `attempt_id` names an attempt that exists and still waits for the operator.

    Only such a callback costs a status read: a forged one (unknown attempt) or a late one (the
    attempt is already final, e.g. the janitor's status read got there first) is stored for
    audit and never confirmed. A transfer's callback (payouts, refunds) is always confirmed:
    on a transfer already final it is how an operator contradicts what we hold, which is
    recorded as a discrepancy (`mboa.disbursements`)."""
    del provider
    if not attempt_id.startswith(PAYMENT_ATTEMPT):
        return True
    attempt = await payment_intent_service.callback_attempt(session, attempt_id)
    return attempt is not None and attempt.waiting


async def _time_callback(
    session: AsyncSession, provider: str, attempt_id: str, now: dt.datetime
) -> None:
    """How long after our request the operator's first callback for it arrived."""
    attempt = await payment_intent_service.callback_attempt(session, attempt_id)
    if attempt is None or attempt.sent_at is None:
        return
    delay = max((now - attempt.sent_at).total_seconds(), 0.0)
    after_commit(session, lambda: payment_metrics.CALLBACK_DELAY.labels(provider).observe(delay))


def _clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name][:300] for name in KEPT_HEADERS if name in headers}


def _verify(
    provider: PaymentProvider, note: ProviderNotification, expected_token: str | None
) -> CallbackVerification:
    if expected_token is not None:
        try:
            provider.verify_notification(note, expected_token=expected_token)
        except InvalidNotification:
            return CallbackVerification.failed
        return CallbackVerification.passed
    # Orange WebPay echoes a notif_token (§2.1); until payment attempts store the one Orange
    # returned at init, we can only say that it was not checked.
    if note.notification_token is not None:
        return CallbackVerification.unchecked
    return CallbackVerification.not_applicable


async def receive(
    session: AsyncSession,
    provider: PaymentProvider,
    *,
    attempt_id: str,
    body: bytes,
    method: str,
    headers: Mapping[str, str],
    client: str | None,
    expected_token: str | None = None,
) -> Received:
    """Store one delivery and, on its first sighting only, enqueue its confirmation.

    Runs in the caller's transaction (the route commits). Never raises for a bad body: an
    unreadable callback is stored as `unparseable` for audit and needs no confirmation."""
    name = provider.spec.name
    note: ProviderNotification | None = None
    parse_error: str | None = None
    if len(body) > MAX_STORED_BODY:
        parse_error = f"body of {len(body)} bytes is larger than {MAX_STORED_BODY}"
    else:
        try:
            note = provider.parse_notification(body, headers=headers, our_id=attempt_id)
        except InvalidNotification as exc:
            parse_error = exc.message
        except Exception as exc:
            # The body is untrusted input: whatever the parser trips on, keep the bytes and
            # answer the operator normally rather than with a 5xx.
            parse_error = f"{type(exc).__name__}: {exc}"
            log.warning("provider_callback_parser_failed", provider=name.value, error=parse_error)

    now = utc_now()
    values: dict[str, Any] = {
        "id": new_id(Prefix.provider_event),
        "provider": name.value,
        "attempt_id": attempt_id,
        "http_method": method,
        "body": body[:MAX_STORED_BODY],
        "body_truncated": len(body) > MAX_STORED_BODY,
        "headers": _kept_headers(headers),
        "client_address": _clip(client, 64),
        "received_at": now,
        "last_seen_at": now,
    }
    verification = CallbackVerification.not_applicable
    if expected_token is None and note is not None and attempt_id.startswith(PAYMENT_ATTEMPT):
        attempt = await payment_intent_service.callback_attempt(session, attempt_id)
        expected_token = attempt.notification_token if attempt is not None else None
    if note is None:
        values |= {
            "dedupe_key": _dedupe_key(name, None, body),
            "verification": verification,
            "parse_error": _clip(parse_error, 500),
            "processed_at": now,
            "result": CallbackResult.unparseable,
        }
    else:
        verification = _verify(provider, note, expected_token)
        values |= {
            "dedupe_key": _dedupe_key(name, note, body),
            "operator_reference": _clip(note.reference, 200),
            "operator_transaction_id": _clip(note.operator_transaction_id, 200),
            "claimed_status": note.status.value,
            "raw_status": _clip(note.raw_status, 100),
            "verification": verification,
        }
        if verification is CallbackVerification.failed:
            # Not from Orange, or not for this attempt (§2.1): keep it, confirm nothing. Checked
            # against this attempt's token, it is a row of its own (the adapter's per-attempt
            # key): it must not absorb the same body arriving where it verifies.
            values |= {
                "processed_at": now,
                "result": CallbackResult.token_mismatch,
                "dedupe_key": note.dedupe_key,
            }

    stored = await ProviderEventRepository.from_session(session).store(values)
    if stored.first_sighting and attempt_id.startswith(PAYMENT_ATTEMPT):
        await _time_callback(session, name.value, attempt_id, now)
    enqueued = False
    if (
        stored.first_sighting
        and "result" not in values
        and await callback_expected(session, name, attempt_id)
    ):
        await enqueue(
            session, CONFIRM_TASK, {"event_id": stored.id}, job_id=confirm_job_id(stored.id)
        )
        enqueued = True
    # Stored, its confirmation enqueued, neither committed nor answered: an API killed here
    # loses this delivery (MTN never sends it again); the janitor's status read finds the answer.
    crash_point("api_in_callback")
    log.info(
        "provider_callback_received",
        provider=name.value,
        attempt_id=attempt_id,
        event_id=stored.id,
        duplicate=not stored.first_sighting,
        claimed_status=values.get("claimed_status"),
        verification=verification.value,
        parsed=note is not None,
    )
    return Received(
        event_id=stored.id,
        first_sighting=stored.first_sighting,
        duplicate_count=stored.duplicate_count,
        parsed=note is not None,
        verification=verification,
        enqueued=enqueued,
    )


# -- confirmation --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    result: CallbackResult
    confirmed_status: str | None
    detail: dict[str, Any]


def _products(note: ProviderNotification) -> tuple[Product, ...]:
    # The callback does not say which product it belongs to. MTN's status resource names a
    # `payee` for a transfer and a `payer` for a request-to-pay (§1.6, §1.8); otherwise try the
    # collection first. The other product is tried when the operator does not know the reference.
    payload = note.payload
    if payload.get("payee") is not None and payload.get("payer") is None:
        return (Product.disbursement, Product.collection)
    return (Product.collection, Product.disbursement)


def _refs(note: ProviderNotification, attempt_id: str) -> list[TransactionRef] | None:
    reference = note.reference
    if reference is None:
        return None
    if note.notification_token is not None:
        # Orange WebPay: `transactionstatus` needs order id and amount too (§2.1). Our order id
        # is the attempt id the callback URL carries; the amount must come from the body.
        if note.amount is None:
            return None
        return [
            TransactionRef(
                provider=note.provider,
                product=Product.collection,
                reference=reference,
                flow=CollectionFlow.redirect,
                external_id=note.external_id or attempt_id,
                amount=note.amount,
            )
        ]
    return [
        TransactionRef(provider=note.provider, product=product, reference=reference)
        for product in _products(note)
    ]


def _confirmed(note: ProviderNotification, result: TransactionResult) -> Outcome:
    return Outcome(
        CallbackResult.confirmed,
        result.status.value,
        {
            "product": result.ref.product.value,
            "reference": result.ref.reference,
            "raw_status": result.raw_status,
            "failure_code": result.failure_code.value if result.failure_code else None,
            "raw_reason": result.raw_reason,
            "operator_transaction_id": result.operator_transaction_id,
            "amount": result.amount,
            "currency": result.currency,
            "claimed_status": note.status.value,
            # A mismatch is normal for a late or early callback, suspicious otherwise.
            "claim_matched": note.status is result.status,
        },
    )


def _error_detail(exc: ProviderError) -> dict[str, Any]:
    return {
        "error": type(exc).__name__,
        "message": exc.message[:500],
        "http_status": exc.http_status,
        "raw_code": exc.raw_code,
    }


async def _read_status(
    provider: PaymentProvider, note: ProviderNotification, attempt_id: str, *, final_try: bool
) -> Outcome:
    refs = _refs(note, attempt_id)
    if refs is None:
        # The payment lifecycle will resolve the attempt's own reference; until then the poller
        # is what finds the outcome of a callback without one (§1.9, §5.2).
        return Outcome(CallbackResult.no_reference, None, {"claimed_status": note.status.value})
    if not _SAFE_REFERENCE.fullmatch(refs[0].reference):
        return Outcome(CallbackResult.invalid_reference, None, {})
    not_found: ProviderNotFound | None = None
    for ref in refs:
        read = (
            provider.collection_status
            if ref.product is Product.collection
            else provider.disbursement_status
        )
        try:
            return _confirmed(note, await read(ref))
        except ProviderNotFound as exc:
            not_found = exc
        except ProviderError as exc:
            if (exc.retryable or exc.outcome_unknown) and not final_try:
                raise RetryLater(str(exc)) from exc
            result = (
                CallbackResult.operator_unavailable
                if exc.retryable or exc.outcome_unknown
                else CallbackResult.error
            )
            return Outcome(result, None, _error_detail(exc))
    assert not_found is not None
    return Outcome(CallbackResult.not_found, None, _error_detail(not_found))


async def confirm(
    db: Database, providers: ProviderRegistry, event_id: str, *, final_try: bool = True
) -> CallbackResult | None:
    """Read the operator's status for one stored callback and record it on the event.

    Idempotent: an event already processed is left alone. No transaction is held open during
    the status read (network I/O). Raises `RetryLater` for a passing failure unless `final_try`.
    """
    async with db.platform_transaction() as session:
        event = await ProviderEventRepository.from_session(session).get(event_id)
        if event is None:
            log.warning("provider_callback_missing", event_id=event_id)
            return None
        if event.processed_at is not None:
            return CallbackResult(event.result) if event.result else None
        provider_name, attempt_id, body = event.provider, event.attempt_id, event.body

    try:
        provider = providers.get(ProviderName(provider_name))
        # The stored body is what the operator sent; parsing is pure, so this is the same
        # notification `receive()` saw.
        note = provider.parse_notification(body, our_id=attempt_id)
    except ProviderError as exc:
        outcome = Outcome(CallbackResult.error, None, _error_detail(exc))
    else:
        outcome = await _read_status(provider, note, attempt_id, final_try=final_try)
    crash_point("in_callback")  # status read, not yet recorded nor handed to the payment

    async with db.platform_transaction() as session:
        recorded = await ProviderEventRepository.from_session(session).record_result(
            event_id,
            result=outcome.result,
            confirmed_status=outcome.confirmed_status,
            detail=outcome.detail,
            now=utc_now(),
        )
        if recorded and attempt_id.startswith(PAYMENT_ATTEMPT):
            # The payment lifecycle reads the attempt's status with its own stored reference
            # (MTN's callbacks rarely carry one) and applies it (docs/payments.md).
            await enqueue(
                session,
                PAYMENT_SYNC_TASK,
                {"attempt_id": attempt_id},
                job_id=f"{PAYMENT_SYNC_TASK}:{event_id}",
            )
        kind = kind_of(attempt_id)
        if recorded and kind is not None:
            # The same for our transfers (payouts `dsb_…`, refunds `rdsb_…`): a status read with
            # the transfer's own reference. `recheck`: a transfer already final is read again,
            # and an answer contradicting it is recorded.
            await enqueue(
                session,
                kind.sync_task,
                {"disbursement_id": attempt_id, "recheck": True},
                job_id=f"{kind.sync_task}:{event_id}",
            )
    log.info(
        "provider_callback_confirmed",
        provider=provider_name,
        attempt_id=attempt_id,
        event_id=event_id,
        result=outcome.result.value,
        confirmed_status=outcome.confirmed_status,
        recorded=recorded,
    )
    return outcome.result
