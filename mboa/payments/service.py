"""Payment intents: the API's side (create, confirm, cancel, read) and the worker's (send the
attempt to the operator, apply the operator's confirmed answer, the janitor). docs/payments.md.

Every status change goes through `states.transition` and is written with its event (and, on
success, its ledger posting) in the caller's one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject
from mboa.config import PaymentsSettings
from mboa.customers.exceptions import CustomerNotFound
from mboa.customers.service import customer as customer_service
from mboa.discrepancies.service import Kind as DiscrepancyKind
from mboa.discrepancies.service import amount_differs
from mboa.discrepancies.service import discrepancy as discrepancy_service
from mboa.events.service import event as event_service
from mboa.exceptions import BadRequest
from mboa.kit.db import sqlstate
from mboa.kit.faults import crash_point
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.time import next_status_check, utc_now
from mboa.ledger.fees import fee_plan
from mboa.ledger.service import ledger
from mboa.metrics import after_commit
from mboa.models import PaymentAttempt, PaymentIntent
from mboa.payments import metrics
from mboa.payments.exceptions import (
    AmountTooLarge,
    AmountTooSmall,
    CurrencyUnsupported,
    PaymentIntentNotFound,
    ReferenceTaken,
    UnexpectedState,
)
from mboa.payments.repository import (
    UNKNOWN_FAILURE_CODE,
    PaymentAttemptRepository,
    PaymentIntentReads,
    PaymentIntentRepository,
    PaymentIntentWrites,
)
from mboa.payments.schemas import PaymentIntent as PaymentIntentObject
from mboa.payments.schemas import (
    PaymentIntentCancel,
    PaymentIntentConfirm,
    PaymentIntentCreate,
    render,
)
from mboa.payments.states import LATE_SUCCESS, Action, CancellationReason, Status, transition
from mboa.postgres import Database, Json
from mboa.providers.errors import (
    MalformedResponse,
    ProviderError,
    ProviderInternalError,
    ProviderNotFound,
    ProviderRejected,
)
from mboa.providers.phone import resolve_provider
from mboa.providers.types import (
    CollectionFlow,
    CollectionRequest,
    FailureCode,
    Product,
    ProviderName,
    TransactionRef,
    TransactionResult,
    TransactionStatus,
)
from mboa.worker import enqueue

if TYPE_CHECKING:
    from mboa.providers.registry import ProviderRegistry

log = structlog.get_logger("mboa.payments")

INITIATE_TASK = "payments.initiate"
SYNC_TASK = "payments.sync_attempt"
REFUND_LATE_SUCCESS_TASK = "refunds.refund_late_success"
"""Refunds a late success (`mboa.refunds.tasks`; docs/refunds.md)."""

ERRORS: dict[FailureCode | None, tuple[str, str, str]] = {
    FailureCode.insufficient_funds: (
        "insufficient_funds",
        "The payer's wallet does not hold enough money.",
        "Le solde du portefeuille du payeur est insuffisant.",
    ),
    FailureCode.declined: (
        "payer_rejected",
        "The payer declined the payment on their phone.",
        "Le payeur a refusé le paiement sur son téléphone.",
    ),
    FailureCode.expired: (
        "payer_timeout",
        "The payer did not approve the payment in time.",
        "Le payeur n'a pas validé le paiement à temps.",
    ),
    FailureCode.payer_not_found: (
        "payer_not_found",
        "No active mobile-money wallet has this number.",
        "Aucun portefeuille mobile money actif n'a ce numéro.",
    ),
    FailureCode.limit_reached: (
        "limit_exceeded",
        "The payer's wallet limit was reached.",
        "Le plafond du portefeuille du payeur est atteint.",
    ),
    FailureCode.not_allowed: (
        "operator_refused",
        "The operator refused this payment.",
        "L'opérateur a refusé ce paiement.",
    ),
    # On a collection the payee is our own merchant account at the operator: a payee the
    # operator does not know or will not credit is the operator refusing, not the payer.
    FailureCode.payee_not_found: (
        "operator_refused",
        "The operator refused this payment.",
        "L'opérateur a refusé ce paiement.",
    ),
    FailureCode.payee_not_allowed: (
        "operator_refused",
        "The operator refused this payment.",
        "L'opérateur a refusé ce paiement.",
    ),
    FailureCode.operator_error: (
        "operator_unavailable",
        "The operator could not process the payment; try again.",
        "L'opérateur n'a pas pu traiter le paiement ; réessayez.",
    ),
}
_UNKNOWN_ERROR = (
    "payment_failed",
    "The operator reported a failure.",
    "L'opérateur a signalé un échec.",
)
"""`code` of `last_payment_error` from the operator's neutral `FailureCode` (docs/payments.md)."""


def payment_error(failure: FailureCode | None, raw_reason: str | None) -> dict[str, Any]:
    code, message, message_fr = ERRORS.get(failure, _UNKNOWN_ERROR)
    return {
        "code": code,
        "message": message,
        "message_fr": message_fr,
        "provider_code": raw_reason,
    }


UNKNOWN_FAILURE = FailureCode(UNKNOWN_FAILURE_CODE)
"""The one failure that is not the operator's answer about the payment: we gave up because it
did not answer (unreachable, 5xx for the whole retry schedule). It may still hold the request."""
WATCH_FAILED_FOR = dt.timedelta(hours=24)
"""How long an attempt failed for an unknown outcome is still read at the operator (with the
janitor's backoff, `kit.time.next_status_check`), so that a payer who did pay is credited or
refunded (docs/payments.md, "When the operator is down")."""


def watched_failure(attempt: PaymentAttempt, now: dt.datetime) -> bool:
    """A failed attempt whose outcome we never learnt: its status is still read, and an
    operator's `succeeded` for it is applied (once)."""
    return (
        attempt.status == "failed"
        and attempt.failure_code == UNKNOWN_FAILURE.value
        and attempt.operator_reference is not None
        and attempt.next_check_at is not None
        and attempt.finished_at is not None
        and now - attempt.finished_at < WATCH_FAILED_FOR
    )


OUTCOME_UNKNOWN = "outcome_unknown"
"""Prefix of `raw_reason` on an attempt not yet sent whose earlier try had an unknown outcome
(a timeout, MTN's 500): the operator may hold the request, so it is never failed for an outage
(docs/payments.md, "When the operator is down")."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Step:
    """What to do after a try failed: `retry` (BullMQ sends the same reference again), else
    `failure` (fail the attempt with it) or, when None, leave it to the status reads."""

    retry: bool = False
    failure: FailureCode | None = None
    mark_unknown: bool = False


def _raw_code(exc: ProviderError) -> str:
    return exc.raw_code or type(exc).__name__


def _after_error(
    exc: ProviderError,
    *,
    retry: bool,
    final_try: bool,
    may_be_held: bool = False,
    nothing_sent: bool = False,
) -> _Step:
    """The rule for a try of `payments.initiate` that failed (docs/payments.md).

    * Unknown outcome (timeout, reset after sending, MTN's 500, an unreadable answer): the
      operator may hold the request. Retried with the same reference (remembered on the
      attempt) except MTN's 500, which says not to resend; after the last try, status reads.
    * The operator may hold it from an earlier try (`may_be_held`): the same, never failed for
      an outage; only a business refusal for this reference fails it.
    * Operator down, the request known not processed (a 5xx answer that is not an unknown
      outcome, a refused connection, our open circuit breaker: nothing sent): retried, then
      failed with `operator_error` (`operator_unavailable`) at the last try.
    * Refused (business or configuration): failed at once with the operator's reason. A refusal
      without a reason on a retry follows the outage that caused the retry (e.g. Orange's
      payToken expired meanwhile): `operator_error`, never `operator_refused`.
    """
    unknown = not nothing_sent and (
        exc.outcome_unknown or isinstance(exc, (ProviderInternalError, MalformedResponse))
    )
    if unknown:
        resend = not final_try and not isinstance(exc, ProviderInternalError)
        return _Step(retry=resend, mark_unknown=True)
    if may_be_held and not (isinstance(exc, ProviderRejected) and exc.failure_code):
        return _Step(retry=exc.retryable and not final_try)
    if exc.retryable:
        if not final_try:
            return _Step(retry=True)
        return _Step(failure=FailureCode.operator_error)
    if exc.failure_code is not None:
        return _Step(failure=exc.failure_code)
    return _Step(failure=FailureCode.operator_error if retry else FailureCode.not_allowed)


def _columns(obj: PaymentIntent | PaymentAttempt) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}


def as_object(intent: PaymentIntent, attempt: PaymentAttempt | None) -> PaymentIntentObject:
    return render(_columns(intent), _columns(attempt) if attempt is not None else None)


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackAttempt:
    waiting: bool
    notification_token: str | None
    sent_at: dt.datetime | None = None


def _count_final(session: AsyncSession, attempt: PaymentAttempt) -> None:
    provider, status, currency = attempt.provider, attempt.status, attempt.currency
    failure, amount = attempt.failure_code or "", attempt.amount
    took = (attempt.finished_at - attempt.created_at).total_seconds() if attempt.finished_at else 0

    def record() -> None:
        metrics.ATTEMPTS_FINISHED.labels(provider, status, failure).inc()
        metrics.ATTEMPT_DURATION.labels(provider, status).observe(max(took, 0.0))
        if status == "succeeded":
            metrics.AMOUNT_SUCCEEDED.labels(provider, currency).inc(amount)

    after_commit(session, record)


class PaymentIntentService:
    # -- API ---------------------------------------------------------------------------------

    async def create(
        self,
        writes: asyncpg.Connection,
        auth: AuthSubject,
        body: PaymentIntentCreate,
        settings: PaymentsSettings,
    ) -> str:
        """The lean write path (`WritesDep`): checks in Python, then the intent, with its
        attempt and outbox job when it has a phone (or pays by Orange WebPay), in one statement,
        and its events in one more. Returns the response's JSON, rendered once (the
        `.processing` event's snapshot is the same text). Raises an `MboaError` only before
        writing (the route rolls back: a taken reference aborts the transaction anyway)."""
        tenant = auth.tenant
        currency, expires_in = self._checked(body, settings)
        if body.customer is not None:
            try:
                await customer_service.retrieve(writes, body.customer)
            except CustomerNotFound:
                raise CustomerNotFound(
                    f"No such customer: '{body.customer}'", param="customer"
                ) from None
        now = utc_now()
        intent: dict[str, Any] = {
            "id": new_id(Prefix.payment_intent),
            "merchant_id": tenant.merchant_id,
            "livemode": tenant.livemode,
            "created_at": now,
            "metadata_": body.metadata or {},
            "amount": body.amount,
            "currency": currency,
            "reference": body.reference,
            "description": body.description,
            "customer_id": body.customer,
            "status": Status.requires_payment_method.value,
            "cancellation_reason": None,
            "canceled_at": None,
            "expires_at": now + dt.timedelta(seconds=expires_in),
            "provider": body.provider.value if body.provider is not None else None,
            "phone": None,
            "amount_received": 0,
            "fee": 0,
            "net": 0,
            "amount_refunded": 0,
            "refund_due": False,
            "last_payment_error": None,
            "latest_attempt_id": None,
        }
        created = render(intent, None).model_dump_json()
        attempt = None
        if body.phone is not None or body.provider is ProviderName.orange_money:
            attempt = self._attempt_row(intent, body.phone, body.provider, settings, now=now)
            after = transition(intent["status"], Action.confirm)
            assert after is not None
            intent |= {
                "status": after.value,
                "provider": attempt["provider"],
                "phone": attempt["phone"],
                "latest_attempt_id": attempt["id"],
            }
        response = created if attempt is None else render(intent, attempt).model_dump_json()
        job = None
        if attempt is not None:
            job = (
                INITIATE_TASK,
                Json('{"attempt_id":"' + attempt["id"] + '"}'),
                f"{INITIATE_TASK}:{attempt['id']}",
            )
        row = intent | {"metadata": Json(orjson.dumps(intent["metadata_"]).decode())}
        try:
            await PaymentIntentWrites(writes).insert(row, attempt, job)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "uq_payment_intents_merchant_id_livemode_reference":
                # A reference already taken (or taken by a concurrent request) is found by the
                # unique index: no round trip to ask first.
                raise ReferenceTaken(
                    f"a payment intent already has the reference {body.reference!r}",
                    param="reference",
                ) from None
            raise
        events = [("payment_intent.created", intent["id"], created)]
        if attempt is not None:
            events.append(("payment_intent.processing", intent["id"], response))
        await event_service.write(
            writes, merchant_id=tenant.merchant_id, livemode=tenant.livemode, now=now, events=events
        )
        if attempt is not None:
            # The lean path has no session to hook: every write is done and the route commits
            # next; a commit that fails is a 500, counted by the request metrics.
            metrics.ATTEMPTS_CREATED.labels(attempt["provider"]).inc()
        # Every row is written, the idempotency key is claimed with the answer at the COMMIT
        # that follows: an API killed here leaves nothing, and the retry creates it once.
        crash_point("api_before_commit")
        return response

    def _checked(self, body: PaymentIntentCreate, settings: PaymentsSettings) -> tuple[str, int]:
        """The currency (upper case) and `expires_in` of a new intent, or the 400 naming the
        parameter that is wrong."""
        currency = body.currency.upper()
        if currency not in settings.currencies:
            raise CurrencyUnsupported(
                f"currency {body.currency!r} is not supported; use {', '.join(settings.currencies)}",
                param="currency",
            )
        if body.amount < settings.min_amount:
            raise AmountTooSmall(
                f"amount must be at least {settings.min_amount} {currency}", param="amount"
            )
        if body.amount > max(settings.max_amount.values()):
            raise AmountTooLarge(
                f"amount must be at most {max(settings.max_amount.values())} {currency}",
                param="amount",
            )
        expires_in = body.expires_in or settings.default_expires_in
        if not 60 <= expires_in <= settings.max_expires_in:
            raise BadRequest(
                f"expires_in must be between 60 and {settings.max_expires_in} seconds",
                param="expires_in",
            )
        return currency, expires_in

    async def create_awaiting_payment_method(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        body: PaymentIntentCreate,
        settings: PaymentsSettings,
    ) -> PaymentIntentObject:
        """An intent in `requires_payment_method`, written in the caller's ORM transaction (a
        checkout session creates its intent this way; the page confirms it later). The public
        create takes the lean write path instead (`create`)."""
        if body.phone is not None:
            raise BadRequest("this intent is confirmed later: no phone here", param="phone")
        tenant = auth.tenant
        currency, expires_in = self._checked(body, settings)
        if body.customer is not None:
            try:
                await customer_service.get(session, body.customer)
            except CustomerNotFound:
                raise CustomerNotFound(
                    f"No such customer: '{body.customer}'", param="customer"
                ) from None
        now = utc_now()
        intent = PaymentIntent(
            id=new_id(Prefix.payment_intent),
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            created_at=now,
            metadata_=body.metadata or {},
            amount=body.amount,
            currency=currency,
            reference=body.reference,
            description=body.description,
            customer_id=body.customer,
            status=Status.requires_payment_method,
            expires_at=now + dt.timedelta(seconds=expires_in),
            provider=body.provider,
            amount_received=0,
            fee=0,
            net=0,
            amount_refunded=0,
            refund_due=False,
        )
        session.add(intent)
        try:
            await session.flush()
        except IntegrityError as exc:
            if sqlstate(exc) == "23505":  # the unique index on the reference
                raise ReferenceTaken(
                    f"a payment intent already has the reference {body.reference!r}",
                    param="reference",
                ) from None
            raise
        await self._event(session, "payment_intent.created", intent, None)
        return as_object(intent, None)

    async def confirm(
        self,
        session: AsyncSession,
        intent_id: str,
        body: PaymentIntentConfirm,
        settings: PaymentsSettings,
    ) -> PaymentIntentObject:
        intent = await self._get(session, intent_id)
        if intent.expires_at <= utc_now() and not Status(intent.status).is_final:
            raise UnexpectedState(
                "This payment intent has expired (the janitor cancels it shortly); "
                "create a new one."
            )
        phone = body.phone or (intent.phone if body.provider is None else None)
        provider = body.provider or (ProviderName(intent.provider) if intent.provider else None)
        attempt = await self._start_attempt(
            session, intent, phone, provider, settings, now=utc_now()
        )
        return as_object(intent, attempt)

    async def cancel(
        self, session: AsyncSession, intent_id: str, body: PaymentIntentCancel
    ) -> PaymentIntentObject:
        intent = await self._get(session, intent_id)
        before = intent.status
        self._move(intent, Action.cancel)
        intent.cancellation_reason = body.cancellation_reason or CancellationReason.abandoned
        intent.canceled_at = utc_now()
        attempt = await self._latest(session, intent)
        await self._event(
            session, "payment_intent.canceled", intent, attempt, previous={"status": before}
        )
        return as_object(intent, attempt)

    async def retrieve(self, reads: asyncpg.Connection, intent_id: str) -> PaymentIntentObject:
        found = await PaymentIntentReads(reads).get(intent_id)
        if found is None:
            raise PaymentIntentNotFound(f"No such payment_intent: '{intent_id}'", param="id")
        return render(*found)

    async def list(
        self,
        session: AsyncSession,
        params: ListParams,
        *,
        status: Status | None,
        provider: ProviderName | None,
        reference: str | None,
        customer: str | None,
        phone: str | None,
        created: CreatedRange | None,
        allow_sandbox: bool,
    ) -> tuple[Sequence[PaymentIntentObject], bool]:
        e164 = None
        if phone is not None:
            e164, _ = resolve_provider(
                phone, provider or ProviderName.mtn_momo, param="phone", allow_sandbox=allow_sandbox
            )
        repository = PaymentIntentRepository.from_session(session)
        statement = repository.list_statement(
            status=status,
            provider=provider,
            reference=reference,
            customer=customer,
            phone=e164.e164 if e164 else None,
            created=created,
        )
        intents, has_more = await repository.paginate(statement, params)
        attempts = await PaymentAttemptRepository.from_session(session).latest_of(intents)
        return [as_object(i, attempts.get(i.latest_attempt_id or "")) for i in intents], has_more

    # -- shared --------------------------------------------------------------------------------

    async def _get(self, session: AsyncSession, intent_id: str) -> PaymentIntent:
        intent = await PaymentIntentRepository.from_session(session).get_for_update(intent_id)
        if intent is None:
            raise PaymentIntentNotFound(f"No such payment_intent: '{intent_id}'", param="id")
        return intent

    async def _latest(self, session: AsyncSession, intent: PaymentIntent) -> PaymentAttempt | None:
        if intent.latest_attempt_id is None:
            return None
        return await PaymentAttemptRepository.from_session(session).get(intent.latest_attempt_id)

    def _move(self, intent: PaymentIntent, action: Action) -> None:
        after = transition(intent.status, action)
        if after is None:
            raise UnexpectedState(
                f"This payment intent is {intent.status}: it cannot be {_VERBS[action]}."
            )
        intent.status = after

    async def _event(
        self,
        session: AsyncSession,
        type: str,
        intent: PaymentIntent,
        attempt: PaymentAttempt | None,
        *,
        previous: dict[str, Any] | None = None,
    ) -> None:
        """`previous`: the changed fields' values before the change (`previous_attributes`)."""
        await session.flush()
        snapshot = as_object(intent, attempt).model_dump(mode="json")
        await event_service.record(
            session,
            merchant_id=intent.merchant_id,
            livemode=intent.livemode,
            type=type,
            snapshot=snapshot,
            previous_attributes=previous,
        )

    async def _enqueue_initiate(self, session: AsyncSession, attempt: PaymentAttempt) -> None:
        await enqueue(
            session,
            INITIATE_TASK,
            {"attempt_id": attempt.id},
            job_id=f"{INITIATE_TASK}:{attempt.id}",
        )

    async def _start_attempt(
        self,
        session: AsyncSession,
        intent: PaymentIntent,
        raw_phone: str | None,
        provider: ProviderName | None,
        settings: PaymentsSettings,
        *,
        now: dt.datetime,
    ) -> PaymentAttempt:
        before = intent.status
        attempt = self._new_attempt(intent, raw_phone, provider, settings, now=now)
        session.add(attempt)
        await session.flush()
        after_commit(session, metrics.ATTEMPTS_CREATED.labels(attempt.provider).inc)
        await self._enqueue_initiate(session, attempt)
        await self._event(
            session, "payment_intent.processing", intent, attempt, previous={"status": before}
        )
        return attempt

    def _new_attempt(
        self,
        intent: PaymentIntent,
        raw_phone: str | None,
        provider: ProviderName | None,
        settings: PaymentsSettings,
        *,
        now: dt.datetime,
    ) -> PaymentAttempt:
        """Move the intent to `processing` with a new attempt (added by the caller)."""
        self._move(intent, Action.confirm)
        attempt = PaymentAttempt(
            **self._attempt_row(_columns(intent), raw_phone, provider, settings, now=now)
        )
        intent.provider = attempt.provider
        intent.phone = attempt.phone
        intent.latest_attempt_id = attempt.id
        intent.last_payment_error = None
        return attempt

    def _attempt_row(
        self,
        intent: dict[str, Any],
        raw_phone: str | None,
        provider: ProviderName | None,
        settings: PaymentsSettings,
        *,
        now: dt.datetime,
    ) -> dict[str, Any]:
        """The columns of a new attempt of `intent` (its columns), or the 400 that refuses it."""
        phone = None
        if raw_phone is not None:
            phone, provider = resolve_provider(
                raw_phone, provider, allow_sandbox=not intent["livemode"]
            )
        elif provider is not ProviderName.orange_money:
            raise BadRequest("phone is required to pay with MTN MoMo", param="phone")
        assert provider is not None
        limit = settings.max_amount.get(provider.value)
        if limit is not None and intent["amount"] > limit:
            raise AmountTooLarge(
                f"{provider.value} takes at most {limit} {intent['currency']} in one payment",
                param="amount",
            )
        flow = CollectionFlow.push if phone is not None else CollectionFlow.redirect
        return {
            "id": new_id(Prefix.payment_attempt),
            "merchant_id": intent["merchant_id"],
            "livemode": intent["livemode"],
            "created_at": now,
            "payment_intent_id": intent["id"],
            "provider": provider.value,
            "flow": flow.value,
            "phone": phone.e164 if phone else None,
            "phone_masked": phone.masked if phone else None,
            "amount": intent["amount"],
            "currency": intent["currency"],
            "status": "pending",
            # MTN's reference is a UUID v4 of ours (docs/providers.md, "The reference contract"):
            # stored now, before any call. Orange's payToken comes from `mp/init`: the worker
            # stores it before `mp/pay`. WebPay needs none.
            "operator_reference": (
                str(uuid.uuid4()) if provider is ProviderName.mtn_momo else None
            ),
            "next_check_at": now + dt.timedelta(seconds=settings.status_check_after_seconds),
            "status_checks": 0,
            # Not written at creation; the rendered object shows them.
            "operator_transaction_id": None,
            "failure_code": None,
            "redirect_url": None,
        }

    # -- callbacks -------------------------------------------------------------------------------

    async def callback_attempt(
        self, session: AsyncSession, attempt_id: str
    ) -> CallbackAttempt | None:
        """What the callback route may know of the attempt its path names: whether it still
        waits for the operator, and the secret Orange WebPay gave for it, which the
        notification must echo (docs/providers-wire.md §2.1). None for an unknown attempt."""
        attempt = await PaymentAttemptRepository.from_session(session).get(attempt_id)
        if attempt is None:
            return None
        return CallbackAttempt(
            # A failed attempt still watched waits too: its callback is confirmed by a status
            # read like any other, and a success is applied (docs/payments.md).
            waiting=attempt.status == "pending" or watched_failure(attempt, utc_now()),
            notification_token=attempt.notification_token,
            sent_at=attempt.sent_at,
        )

    # -- worker ----------------------------------------------------------------------------------

    async def initiate(
        self,
        db: Database,
        providers: ProviderRegistry,
        callback_base: str,
        attempt_id: str,
        *,
        settings: PaymentsSettings,
        final_try: bool,
        retry: bool = False,
    ) -> str:
        """Send one attempt to its operator with the reference stored for it; a retry sends the
        same reference again. No transaction is held open during the call.

        `retry`: an earlier try of this job failed (BullMQ's attempt > 1). A try that fails is
        retried, left to the status reads, or failed at once: `_after_error` decides."""
        async with db.platform_transaction() as session:
            attempt = await PaymentAttemptRepository.from_session(session).get(attempt_id)
            if attempt is None:
                return "missing"
            if attempt.status != "pending" or attempt.sent_at is not None:
                return "already_sent"
            intent = await PaymentIntentRepository.from_session(session).get(
                attempt.payment_intent_id
            )
            assert intent is not None
            description = (intent.description or intent.reference or intent.id)[:160]
            provider_name, flow = ProviderName(attempt.provider), CollectionFlow(attempt.flow)
            reference, phone = attempt.operator_reference, attempt.phone
            amount, currency = attempt.amount, attempt.currency
            # An earlier try whose outcome was unknown, or a status read that found the request
            # at the operator: it may hold it, so this attempt is never failed for an outage.
            may_be_held = attempt.raw_status is not None or (attempt.raw_reason or "").startswith(
                OUTCOME_UNKNOWN
            )
        provider = providers.get(provider_name)
        if reference is None and flow is CollectionFlow.push:
            try:
                minted = await provider.reserve_reference(Product.collection)
            except ProviderError as exc:
                # Orange's `init` only issues a payToken: nothing can be collected with it
                # before `pay`, so whatever its outcome the payer was sent nothing.
                step = _after_error(exc, nothing_sent=True, retry=retry, final_try=final_try)
                return await self._after_error(
                    db, attempt_id, provider_name, None, flow, exc, step, settings
                )
            async with db.platform_transaction() as session:
                reference = await PaymentAttemptRepository.from_session(session).set_reference(
                    attempt_id, minted
                )
        request = CollectionRequest(
            external_id=attempt_id,
            amount=amount,
            currency=currency,
            phone=phone,
            reference=reference,
            description=description,
            callback_url=f"{callback_base}/v1/providers/{provider_name.value}/callback/{attempt_id}",
            flow=flow,
        )
        try:
            result = await provider.collect(request)
            crash_point("after_operator_call")
        except ProviderError as exc:
            step = _after_error(exc, may_be_held=may_be_held, retry=retry, final_try=final_try)
            return await self._after_error(
                db, attempt_id, provider_name, reference, flow, exc, step, settings
            )
        async with db.platform_transaction() as session:
            await self.apply_result(
                session,
                attempt_id,
                result,
                sent=True,
                check_after=settings.status_check_after_seconds,
            )
        return result.status.value

    async def _after_error(
        self,
        db: Database,
        attempt_id: str,
        provider: ProviderName,
        reference: str | None,
        flow: CollectionFlow,
        exc: ProviderError,
        step: _Step,
        settings: PaymentsSettings,
    ) -> str:
        """Carry out what `_after_error` decided for a try that failed."""
        if step.mark_unknown:
            async with db.platform_transaction() as session:
                await PaymentAttemptRepository.from_session(session).mark_outcome_unknown(
                    attempt_id, f"{OUTCOME_UNKNOWN}:{_raw_code(exc)}"[:200]
                )
        if step.retry:
            raise exc  # BullMQ retries: the same reference is sent again
        if step.failure is None:
            # The operator may hold the request (a timeout, MTN's 500 which says: read the
            # status, do not resend): the janitor reads it; no guess is made.
            log.warning("payment_attempt_outcome_unknown", attempt_id=attempt_id)
            async with db.platform_transaction() as session:
                await PaymentAttemptRepository.from_session(session).schedule_check(
                    attempt_id,
                    utc_now() + dt.timedelta(seconds=settings.status_check_after_seconds),
                )
            return "unknown"
        result = TransactionResult(
            ref=TransactionRef(
                provider=provider,
                product=Product.collection,
                reference=reference or attempt_id,
                flow=flow,
            ),
            status=TransactionStatus.failed,
            failure_code=step.failure,
            raw_reason=_raw_code(exc)[:200],
        )
        async with db.platform_transaction() as session:
            await self.apply_result(
                session,
                attempt_id,
                result,
                # An outage answered nothing about the payment: the attempt was not sent.
                sent=reference is not None and step.failure is not FailureCode.operator_error,
                check_after=settings.status_check_after_seconds,
            )
        return result.status.value

    async def sync_attempt(
        self,
        db: Database,
        providers: ProviderRegistry,
        attempt_id: str,
        *,
        settings: PaymentsSettings,
    ) -> str:
        """Read the operator's status of one attempt with our own reference and apply it
        (callbacks and the janitor both end here). Idempotent."""
        async with db.platform_transaction() as session:
            attempt = await PaymentAttemptRepository.from_session(session).get(attempt_id)
            if attempt is None:
                return "missing"
            watched = attempt.status == "failed" and watched_failure(attempt, utc_now())
            if attempt.status == "failed" and not watched and attempt.next_check_at is not None:
                # Past its watch (or failed before the watch existed): no more reads.
                await PaymentAttemptRepository.from_session(session).stop_watching(attempt_id)
            if attempt.status != "pending" and not watched:
                return attempt.status
            if attempt.operator_reference is None:
                return "not_sent"
            ref = TransactionRef(
                provider=ProviderName(attempt.provider),
                product=Product.collection,
                reference=attempt.operator_reference,
                flow=CollectionFlow(attempt.flow),
                external_id=attempt.id,
                amount=attempt.amount,
            )
            checks = attempt.status_checks
            unknown_since = attempt.sent_at or attempt.created_at
            if watched:
                unknown_since = attempt.finished_at or unknown_since
        try:
            result: TransactionResult | None = await providers.get(ref.provider).collection_status(
                ref
            )
        except ProviderNotFound as exc:
            # Not sent yet (its `payments.initiate` job is still queued): look again later;
            # an operator that still does not know it after the grace period never will.
            result = None
            age = (utc_now() - unknown_since).total_seconds()
            if watched and age > settings.unknown_attempt_fail_after_seconds:
                # The operator answers, and still does not know it long after: it never held
                # it (our tries never reached it). Nothing to watch any more.
                async with db.platform_transaction() as session:
                    await PaymentAttemptRepository.from_session(session).stop_watching(attempt_id)
                return "not_found"
            if not watched and age > settings.unknown_attempt_fail_after_seconds:
                result = TransactionResult(
                    ref=ref,
                    status=TransactionStatus.failed,
                    failure_code=FailureCode.operator_error,
                    raw_reason=(exc.raw_code or "not_found")[:200],
                )
        async with db.platform_transaction() as session:
            if result is not None:
                await self.apply_result(session, attempt_id, result)
            if watched and result is not None and result.status is TransactionStatus.failed:
                # The operator's final word agrees with ours: stop reading.
                await PaymentAttemptRepository.from_session(session).stop_watching(attempt_id)
            elif result is None or not result.status.is_final:
                await PaymentAttemptRepository.from_session(session).schedule_check(
                    attempt_id,
                    next_status_check(
                        settings.status_check_after_seconds,
                        settings.status_check_max_interval_seconds,
                        checks,
                    ),
                )
        return result.status.value if result is not None else "not_found"

    async def apply_result(
        self,
        session: AsyncSession,
        attempt_id: str,
        result: TransactionResult,
        *,
        sent: bool = False,
        check_after: float | None = None,
    ) -> bool:
        """Apply the operator's answer for one attempt in the caller's transaction: the
        attempt, the intent's transition, the ledger posting and the event. Returns False when
        nothing changed (a duplicate or late confirmation of a final attempt)."""
        attempts = PaymentAttemptRepository.from_session(session)
        attempt = await attempts.get_for_update(attempt_id)
        if attempt is None:
            return False
        now = utc_now()
        # A failed attempt the operator now confirms succeeded: the payer paid. Only a
        # success reopens it; any other answer for a final attempt changes nothing.
        reopened = (
            result.status is TransactionStatus.succeeded
            and attempt.status == "failed"
            and watched_failure(attempt, now)
        )
        if attempt.status != "pending" and not reopened:
            return False
        intent = await PaymentIntentRepository.from_session(session).get_for_update(
            attempt.payment_intent_id
        )
        assert intent is not None
        attempt.raw_status = (result.raw_status or attempt.raw_status or "")[:100] or None
        attempt.raw_reason = (result.raw_reason or "")[:200] or attempt.raw_reason
        attempt.operator_transaction_id = (
            result.operator_transaction_id or attempt.operator_transaction_id
        )
        if sent and attempt.sent_at is None:
            attempt.sent_at = now
            if result.ref.reference and attempt.operator_reference is None:
                attempt.operator_reference = result.ref.reference
            attempt.redirect_url = result.redirect_url
            attempt.notification_token = result.notification_token
            if check_after is not None:
                # The janitor's first status read, if no callback settles it before.
                attempt.next_check_at = now + dt.timedelta(seconds=check_after)
        if result.status is TransactionStatus.pending:
            await session.flush()
            return sent
        attempt.finished_at = now
        if result.status is TransactionStatus.succeeded:
            if amount_differs(result, attempt.amount, attempt.currency):
                # The attempt's amount is posted and the operator's report recorded for review
                # (docs/payments.md, "Operator discrepancies"): never re-posted automatically.
                await discrepancy_service.record(
                    session,
                    kind=DiscrepancyKind.amount_mismatch,
                    merchant_id=intent.merchant_id,
                    livemode=intent.livemode,
                    provider=attempt.provider,
                    object_id=intent.id,
                    transfer_id=attempt.id,
                    operator_reference=attempt.operator_reference,
                    our_status="succeeded",
                    our_amount=attempt.amount,
                    result=result,
                )
            attempt.status = "succeeded"
            attempt.failure_code = None
            await self._collected(session, intent, attempt, now, reopened=reopened)
        else:
            attempt.status = "failed"
            attempt.failure_code = (result.failure_code or FailureCode.unknown).value
            if (
                result.failure_code is UNKNOWN_FAILURE
                and check_after is not None
                and attempt.operator_reference is not None
            ):
                # We gave up, the operator did not answer: it may hold the request. Read it
                # again for WATCH_FAILED_FOR with the janitor's backoff (docs/payments.md).
                attempt.next_check_at = now + dt.timedelta(seconds=check_after)
                attempt.status_checks = 0
            else:
                attempt.next_check_at = None
            before = intent.status
            after = transition(before, Action.attempt_failed)
            if after is not None and intent.latest_attempt_id == attempt.id:
                intent.status = after
                intent.last_payment_error = payment_error(result.failure_code, result.raw_reason)
                await self._event(
                    session,
                    "payment_intent.payment_failed",
                    intent,
                    attempt,
                    previous={"status": before},
                )
        await session.flush()
        _count_final(session, attempt)
        crash_point("before_commit")
        log.info(
            "payment_attempt_final",
            attempt_id=attempt.id,
            payment_intent=intent.id,
            status=attempt.status,
            intent_status=intent.status,
        )
        return True

    async def _collected(
        self,
        session: AsyncSession,
        intent: PaymentIntent,
        attempt: PaymentAttempt,
        now: dt.datetime,
        *,
        reopened: bool = False,
    ) -> None:
        """The money is in our float: post it once, whatever the intent's status says.
        `reopened`: the attempt had been failed for an unknown outcome (docs/payments.md)."""
        plan = await fee_plan.plan_for(
            session,
            merchant_id=intent.merchant_id,
            operator=attempt.provider,
            currency=attempt.currency,
        )
        posted = await ledger.post_collection(
            session,
            merchant_id=intent.merchant_id,
            livemode=intent.livemode,
            operator=attempt.provider,
            amount=attempt.amount,
            currency=attempt.currency,
            source=intent.id,
            idempotency_key=f"payment_attempt:{attempt.id}",
            now=now,
        )
        if not posted.ok:
            raise RuntimeError(f"ledger refused the collection of {attempt.id}: {posted.outcome}")
        fee = plan.fee_for(attempt.amount)
        previous = {
            "status": intent.status,
            "amount_received": intent.amount_received,
            "fee": intent.fee,
            "net": intent.net,
        }
        intent.amount_received += attempt.amount
        intent.fee += fee
        intent.net += attempt.amount - fee
        intent.ledger_transaction_id = posted.transaction_id
        action = Action.failed_attempt_succeeded if reopened else Action.attempt_succeeded
        after = transition(intent.status, action)
        if after is not None:
            intent.status = after
            intent.succeeded_at = now
            intent.last_payment_error = None
            if reopened:
                # The attempt that paid is the one the intent shows (a newer one still with
                # the operator becomes a late success if the payer approves it too).
                intent.latest_attempt_id = attempt.id
            await self._event(
                session, "payment_intent.succeeded", intent, attempt, previous=previous
            )
            # checkout (issue 15): the intent's checkout session, if any, completes in this
            # same transaction, with its event. Imported here: checkout builds on payments.
            from mboa.checkout.service import checkout_session

            await checkout_session.intent_succeeded(session, intent)
        else:
            assert Status(intent.status) in LATE_SUCCESS, intent.status
            intent.refund_due = True
            del previous["status"]  # a final status never changes
            previous["refund_due"] = False
            await self._event(
                session, "payment_intent.late_success", intent, attempt, previous=previous
            )
            # refunds (issue 13 point 4): give it back automatically (docs/refunds.md).
            await enqueue(
                session,
                REFUND_LATE_SUCCESS_TASK,
                {"payment_intent": intent.id},
                job_id=f"{REFUND_LATE_SUCCESS_TASK}:{intent.id}:{attempt.id}",
            )

    async def expire(self, session: AsyncSession, intent_id: str) -> bool:
        """Cancel one intent past `expires_at` (janitor); its pending attempt stays watched."""
        intent = await PaymentIntentRepository.from_session(session).get_for_update(intent_id)
        if intent is None or intent.expires_at > utc_now():
            return False
        before = intent.status
        after = transition(before, Action.expire)
        if after is None:
            return False
        intent.status = after
        intent.cancellation_reason = CancellationReason.expired
        intent.canceled_at = utc_now()
        attempt = await self._latest(session, intent)
        await self._event(
            session, "payment_intent.canceled", intent, attempt, previous={"status": before}
        )
        return True

    async def janitor(self, db: Database, settings: PaymentsSettings) -> tuple[int, int]:
        """Cancel expired intents and enqueue a status read for each attempt that is due."""
        now = utc_now()
        expired = 0
        async with db.platform_transaction() as session:
            ids = await PaymentIntentRepository.from_session(session).expired_ids(
                now, settings.janitor_batch
            )
        for intent_id in ids:
            async with db.platform_transaction() as session:
                expired += await self.expire(session, intent_id)
        async with db.platform_transaction() as session:
            attempts = PaymentAttemptRepository.from_session(session)
            due = await attempts.due_for_check(now, settings.janitor_batch)
            for attempt_id in due:
                # One read per attempt and due time; the read reschedules the next check.
                await attempts.schedule_check(
                    attempt_id,
                    now + dt.timedelta(seconds=settings.status_check_max_interval_seconds),
                )
                await enqueue(
                    session,
                    SYNC_TASK,
                    {"attempt_id": attempt_id},
                    job_id=f"{SYNC_TASK}:{attempt_id}:{int(now.timestamp())}",
                )
        return expired, len(due)


_VERBS = {
    Action.confirm: "confirmed",
    Action.cancel: "canceled",
    Action.expire: "expired",
    Action.attempt_succeeded: "marked succeeded",
    Action.attempt_failed: "marked failed",
}

payment_intent = PaymentIntentService()
