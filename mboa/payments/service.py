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
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject
from mboa.config import PaymentsSettings
from mboa.customers.exceptions import CustomerNotFound
from mboa.customers.service import customer as customer_service
from mboa.events.service import event as event_service
from mboa.exceptions import BadRequest
from mboa.kit.db import sqlstate
from mboa.kit.faults import crash_point
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.time import next_status_check, utc_now
from mboa.ledger.fees import fee_plan
from mboa.ledger.service import ledger
from mboa.models import PaymentAttempt, PaymentIntent
from mboa.payments.exceptions import (
    AmountTooLarge,
    AmountTooSmall,
    CurrencyUnsupported,
    PaymentIntentNotFound,
    ReferenceTaken,
    UnexpectedState,
)
from mboa.payments.repository import (
    PaymentAttemptRepository,
    PaymentIntentReads,
    PaymentIntentRepository,
)
from mboa.payments.schemas import PaymentIntent as PaymentIntentObject
from mboa.payments.schemas import (
    PaymentIntentCancel,
    PaymentIntentConfirm,
    PaymentIntentCreate,
    render,
)
from mboa.payments.states import LATE_SUCCESS, Action, CancellationReason, Status, transition
from mboa.postgres import Database
from mboa.providers.errors import ProviderError, ProviderInternalError, ProviderNotFound
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


def _columns(obj: PaymentIntent | PaymentAttempt) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}


def as_object(intent: PaymentIntent, attempt: PaymentAttempt | None) -> PaymentIntentObject:
    return render(_columns(intent), _columns(attempt) if attempt is not None else None)


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackAttempt:
    waiting: bool
    notification_token: str | None


class PaymentIntentService:
    # -- API ---------------------------------------------------------------------------------

    async def create(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        body: PaymentIntentCreate,
        settings: PaymentsSettings,
    ) -> PaymentIntentObject:
        tenant = auth.tenant
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
        if body.customer is not None:
            try:
                await customer_service.get(session, body.customer)
            except CustomerNotFound:
                raise CustomerNotFound(
                    f"No such customer: '{body.customer}'", param="customer"
                ) from None
        # A reference already taken is found by the unique index on flush (below): one round
        # trip less than asking first, and the same answer when two requests race.
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
        # The intent is inserted once, already `processing` with its attempt when it has one
        # (no INSERT then UPDATE). A reference already taken is found by the unique index on
        # this flush: one round trip less than asking first, and the same answer when two
        # requests race. Each snapshot is rendered once, before the flush (it needs nothing
        # from PostgreSQL); the rest (the attempt, both events in one statement) is written by
        # the flush of the route's commit, after the stored response.
        created = as_object(intent, None)
        attempt = None
        if body.phone is not None or body.provider is ProviderName.orange_money:
            attempt = self._new_attempt(intent, body.phone, body.provider, settings, now=now)
        session.add(intent)
        try:
            await session.flush()
        except IntegrityError as exc:
            if sqlstate(exc) == "23505":  # a concurrent request took the reference
                raise ReferenceTaken(
                    f"a payment intent already has the reference {body.reference!r}",
                    param="reference",
                ) from None
            raise
        self._record(session, "payment_intent.created", intent, created)
        if attempt is None:
            return created
        session.add(attempt)
        await self._enqueue_initiate(session, attempt)
        processing = as_object(intent, attempt)
        self._record(session, "payment_intent.processing", intent, processing)
        return processing

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
        self._move(intent, Action.cancel)
        intent.cancellation_reason = body.cancellation_reason or CancellationReason.abandoned
        intent.canceled_at = utc_now()
        attempt = await self._latest(session, intent)
        await self._event(session, "payment_intent.canceled", intent, attempt)
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
    ) -> None:
        await session.flush()
        snapshot = as_object(intent, attempt).model_dump(mode="json")
        await event_service.record(
            session,
            merchant_id=intent.merchant_id,
            livemode=intent.livemode,
            type=type,
            snapshot=snapshot,
        )

    def _record(
        self, session: AsyncSession, type: str, intent: PaymentIntent, rendered: PaymentIntentObject
    ) -> None:
        """The event of an intent already rendered (no flush: it is written with the next)."""
        event_service.add(
            session,
            merchant_id=intent.merchant_id,
            livemode=intent.livemode,
            type=type,
            snapshot=rendered.model_dump(mode="json"),
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
        attempt = self._new_attempt(intent, raw_phone, provider, settings, now=now)
        session.add(attempt)
        await session.flush()
        await self._enqueue_initiate(session, attempt)
        await self._event(session, "payment_intent.processing", intent, attempt)
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
        phone = None
        if raw_phone is not None:
            phone, provider = resolve_provider(
                raw_phone, provider, allow_sandbox=not intent.livemode
            )
        elif provider is not ProviderName.orange_money:
            raise BadRequest("phone is required to pay with MTN MoMo", param="phone")
        assert provider is not None
        limit = settings.max_amount.get(provider.value)
        if limit is not None and intent.amount > limit:
            raise AmountTooLarge(
                f"{provider.value} takes at most {limit} {intent.currency} in one payment",
                param="amount",
            )
        flow = CollectionFlow.push if phone is not None else CollectionFlow.redirect
        attempt = PaymentAttempt(
            id=new_id(Prefix.payment_attempt),
            merchant_id=intent.merchant_id,
            livemode=intent.livemode,
            created_at=now,
            payment_intent_id=intent.id,
            provider=provider.value,
            flow=flow.value,
            phone=phone.e164 if phone else None,
            phone_masked=phone.masked if phone else None,
            amount=intent.amount,
            currency=intent.currency,
            status="pending",
            # MTN's reference is a UUID v4 of ours (docs/providers.md, "The reference contract"):
            # stored now, before any call. Orange's payToken comes from `mp/init`: the worker
            # stores it before `mp/pay`. WebPay needs none.
            operator_reference=str(uuid.uuid4()) if provider is ProviderName.mtn_momo else None,
            next_check_at=now + dt.timedelta(seconds=settings.status_check_after_seconds),
            status_checks=0,
        )
        intent.provider = provider.value
        intent.phone = attempt.phone
        intent.latest_attempt_id = attempt.id
        intent.last_payment_error = None
        return attempt

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
            waiting=attempt.status == "pending", notification_token=attempt.notification_token
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
    ) -> str:
        """Send one attempt to its operator with the reference stored for it; a retry sends the
        same reference again. No transaction is held open during the call."""
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
        provider = providers.get(provider_name)
        if reference is None and flow is CollectionFlow.push:
            minted = await provider.reserve_reference(Product.collection)
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
            internal = isinstance(exc, ProviderInternalError)
            if (exc.retryable or exc.outcome_unknown) and not internal and not final_try:
                raise  # BullMQ retries: the same reference is sent again
            if exc.outcome_unknown or exc.retryable or internal:
                # The operator may have the request (MTN's 500 says: read the status, do not
                # resend, docs/providers.md "Errors"): the janitor reads it; no guess is made.
                log.warning("payment_attempt_outcome_unknown", attempt_id=attempt_id)
                async with db.platform_transaction() as session:
                    await PaymentAttemptRepository.from_session(session).schedule_check(
                        attempt_id,
                        utc_now() + dt.timedelta(seconds=settings.status_check_after_seconds),
                    )
                return "unknown"
            ref = TransactionRef(
                provider=provider_name,
                product=Product.collection,
                reference=reference or attempt_id,
                flow=flow,
            )
            result = TransactionResult(
                ref=ref,
                status=TransactionStatus.failed,
                failure_code=exc.failure_code or FailureCode.not_allowed,
                raw_reason=(exc.raw_code or type(exc).__name__)[:200],
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
            if attempt.status != "pending":
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
        try:
            result: TransactionResult | None = await providers.get(ref.provider).collection_status(
                ref
            )
        except ProviderNotFound as exc:
            # Not sent yet (its `payments.initiate` job is still queued): look again later;
            # an operator that still does not know it after the grace period never will.
            result = None
            age = (utc_now() - unknown_since).total_seconds()
            if age > settings.unknown_attempt_fail_after_seconds:
                result = TransactionResult(
                    ref=ref,
                    status=TransactionStatus.failed,
                    failure_code=FailureCode.operator_error,
                    raw_reason=(exc.raw_code or "not_found")[:200],
                )
        async with db.platform_transaction() as session:
            if result is not None:
                await self.apply_result(session, attempt_id, result)
            if result is None or not result.status.is_final:
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
        if attempt is None or attempt.status != "pending":
            return False
        intent = await PaymentIntentRepository.from_session(session).get_for_update(
            attempt.payment_intent_id
        )
        assert intent is not None
        now = utc_now()
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
            if (result.amount is not None and result.amount != attempt.amount) or (
                result.currency is not None and result.currency != attempt.currency
            ):
                # docs/payments.md "Not handled yet": kept for review, the attempt's amount posted.
                log.error(
                    "payment_attempt_amount_mismatch",
                    attempt_id=attempt.id,
                    asked=attempt.amount,
                    reported=result.amount,
                    currency=result.currency,
                )
            attempt.status = "succeeded"
            await self._collected(session, intent, attempt, now)
        else:
            attempt.status = "failed"
            attempt.failure_code = (result.failure_code or FailureCode.unknown).value
            after = transition(intent.status, Action.attempt_failed)
            if after is not None and intent.latest_attempt_id == attempt.id:
                intent.status = after
                intent.last_payment_error = payment_error(result.failure_code, result.raw_reason)
                await self._event(session, "payment_intent.payment_failed", intent, attempt)
        await session.flush()
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
    ) -> None:
        """The money is in our float: post it once, whatever the intent's status says."""
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
        intent.amount_received += attempt.amount
        intent.fee += fee
        intent.net += attempt.amount - fee
        intent.ledger_transaction_id = posted.transaction_id
        after = transition(intent.status, Action.attempt_succeeded)
        if after is not None:
            intent.status = after
            intent.succeeded_at = now
            intent.last_payment_error = None
            await self._event(session, "payment_intent.succeeded", intent, attempt)
        else:
            assert Status(intent.status) in LATE_SUCCESS, intent.status
            intent.refund_due = True
            await self._event(session, "payment_intent.late_success", intent, attempt)
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
        after = transition(intent.status, Action.expire)
        if after is None:
            return False
        intent.status = after
        intent.cancellation_reason = CancellationReason.expired
        intent.canceled_at = utc_now()
        attempt = await self._latest(session, intent)
        await self._event(session, "payment_intent.canceled", intent, attempt)
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
