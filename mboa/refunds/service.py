"""Refunds: the API's side (create with the funds reserved, read) and the worker's (hand the
transfer to the operator with our stored reference, apply the operator's confirmed answer, read
the status of transfers still pending, refund late successes). docs/refunds.md.

The shapes and the task structure mirror the payouts' (a refund is a disbursement to the payer's
wallet): every status change goes through `states.transition` and is written with its event and
its ledger posting (reserve, post or void) in the caller's one transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject
from mboa.config import RefundsSettings
from mboa.events.service import event as event_service
from mboa.kit.faults import crash_point
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.time import next_status_check, utc_now
from mboa.ledger.accounts import AccountKind, merchant_account, platform_account
from mboa.ledger.posting import Leg, Outcome, PostingResult, SourceType
from mboa.ledger.service import ledger
from mboa.models import PaymentIntent, Refund, RefundDisbursement
from mboa.postgres import Database
from mboa.providers.errors import (
    InvalidRequest,
    ProviderConfigurationError,
    ProviderError,
    ProviderRejected,
)
from mboa.providers.types import (
    DisbursementRequest,
    FailureCode,
    Product,
    ProviderName,
    TransactionRef,
    TransactionResult,
    TransactionStatus,
)
from mboa.refunds.exceptions import (
    RefundAmountInvalid,
    RefundBalanceInsufficient,
    RefundExceedsRefundable,
    RefundNotFound,
    RefundPaymentIntentNotFound,
    RefundPaymentNotRefundable,
)
from mboa.refunds.repository import RefundDisbursementRepository, RefundRepository
from mboa.refunds.schemas import Refund as RefundObject
from mboa.refunds.schemas import RefundCreate, RefundDestination
from mboa.refunds.states import Action, Status, transition
from mboa.worker import enqueue

if TYPE_CHECKING:
    from mboa.providers.registry import ProviderRegistry

log = structlog.get_logger("mboa.refunds")

SEND_TASK = "refunds.send"
SYNC_TASK = "refunds.sync_disbursement"
LATE_SUCCESS_TASK = "refunds.refund_late_success"
"""Enqueued by the payments flow when a success arrives after the intent was canceled."""
SOURCE_TYPE = "refund"
LATE_SUCCESS_REASON = "expired_uncaptured"

FAILURES: dict[FailureCode | None, tuple[str, str]] = {
    FailureCode.payee_not_found: (
        "destination_not_found",
        "The payer's wallet no longer exists or is not active.",
    ),
    FailureCode.payer_not_found: (
        "destination_not_found",
        "The payer's wallet no longer exists or is not active.",
    ),
    FailureCode.payee_not_allowed: (
        "destination_not_allowed",
        "The payer's wallet may not receive money.",
    ),
    FailureCode.limit_reached: (
        "destination_limit_reached",
        "The payer's wallet limit was reached.",
    ),
    FailureCode.insufficient_funds: (
        "operator_insufficient_funds",
        "Our disbursement account at the operator lacked the amount; refund again later.",
    ),
    FailureCode.operator_error: (
        "could_not_process",
        "The operator could not process the transfer.",
    ),
}
_REFUSED = ("operator_refused", "The operator refused the transfer.")
"""`failure_reason` and `failure_message` of a failed refund (docs/refunds.md, "Failures")."""


def _failure(code: FailureCode | None) -> tuple[str, str]:
    return FAILURES.get(code, _REFUSED)


def fee_share(fee: int, received: int, refunded_before: int, amount: int) -> int:
    """The part of a payment's `fee` given back with a refund of `amount` after
    `refunded_before` was refunded: proportional, rounded down, and the refund that completes
    the payment gives back exactly the rest, so all refunds together return the whole fee."""
    after = refunded_before + amount
    return fee * after // received - fee * refunded_before // received


def as_object(refund: Refund, disbursement: RefundDisbursement | None) -> RefundObject:
    return RefundObject(
        id=refund.id,
        livemode=refund.livemode,
        created=refund.created_at,
        metadata=refund.metadata_,
        payment_intent=refund.payment_intent_id,
        amount=refund.amount,
        fee_returned=refund.fee_returned,
        currency=refund.currency,
        status=Status(refund.status),
        reason=refund.reason,  # type: ignore[arg-type]
        destination=RefundDestination(
            phone=refund.phone_masked, provider=ProviderName(refund.provider)
        ),
        failure_reason=refund.failure_reason,
        failure_message=refund.failure_message,
        succeeded_at=refund.succeeded_at,
        failed_at=refund.failed_at,
        balance_transaction=refund.reserve_transaction_id,
        operator_reference=disbursement.operator_reference if disbursement else None,
        operator_transaction_id=disbursement.operator_transaction_id if disbursement else None,
    )


def _require(result: PostingResult, what: str) -> None:
    if not result.ok:
        raise RuntimeError(f"the ledger refused {what}: {result.outcome}")


_SHORT = (Outcome.exceeds_credits, Outcome.exceeds_debits)


class RefundService:
    # -- API ---------------------------------------------------------------------------------

    async def create(
        self, session: AsyncSession, auth: AuthSubject, body: RefundCreate
    ) -> RefundObject:
        """Validate, reserve the merchant's part of the amount (from the available balance, else
        from the payment's own pending funds) and enqueue the transfer: one commit. `session` is
        the platform role's (the ledger's write functions are the platform's only); every row
        read or written names the caller's tenant."""
        tenant = auth.tenant
        intent = await RefundRepository.from_session(session).intent_of_tenant_for_update(
            body.payment_intent, merchant_id=tenant.merchant_id, livemode=tenant.livemode
        )
        if intent is None:
            raise RefundPaymentIntentNotFound(
                f"No such payment_intent: '{body.payment_intent}'", param="payment_intent"
            )
        refund, disbursement = await self._create(
            session, intent, amount=body.amount, reason=body.reason, metadata=body.metadata
        )
        return as_object(refund, disbursement)

    async def _create(
        self,
        session: AsyncSession,
        intent: PaymentIntent,
        *,
        amount: int | None,
        reason: str | None,
        metadata: dict[str, str] | None,
    ) -> tuple[Refund, RefundDisbursement]:
        """A refund of the locked `intent`, in the caller's transaction."""
        if intent.amount_received <= 0:
            raise RefundPaymentNotRefundable(
                f"This payment intent is {intent.status} and received nothing: there is "
                "nothing to refund.",
                param="payment_intent",
            )
        refundable = intent.amount_received - intent.amount_refunded
        if amount is None:
            amount = refundable
            if amount <= 0:
                raise RefundExceedsRefundable(
                    "This payment intent is already refunded in full.", param="payment_intent"
                )
        if amount <= 0:
            raise RefundAmountInvalid("amount must be a positive integer", param="amount")
        if amount > refundable:
            raise RefundExceedsRefundable(
                f"amount {amount} {intent.currency} is above what can still be refunded "
                f"({refundable} {intent.currency} of {intent.amount_received} received)",
                param="amount",
            )
        attempt = await RefundRepository.from_session(session).succeeded_attempt(intent.id)
        if attempt is None or attempt.phone is None:
            raise RefundPaymentNotRefundable(
                "This payment intent has no wallet to refund to.", param="payment_intent"
            )
        returned = fee_share(intent.fee, intent.amount_received, intent.amount_refunded, amount)
        share = amount - returned
        refund_id = new_id(Prefix.refund)
        reserved = await self._reserve(session, intent, refund_id, share)
        now = utc_now()
        provider = ProviderName(attempt.provider)
        disbursement = RefundDisbursement(
            id=new_id(Prefix.refund_disbursement),
            merchant_id=intent.merchant_id,
            livemode=intent.livemode,
            created_at=now,
            source_type=SOURCE_TYPE,
            source_id=refund_id,
            provider=provider.value,
            phone=attempt.phone,
            amount=amount,
            currency=intent.currency,
            status="pending",
            # MTN's reference is a UUID v4 of ours, stored now, before any call. Orange's
            # payToken comes from `cashin/init`: the worker stores it before `cashin/pay`.
            operator_reference=str(uuid.uuid4()) if provider is ProviderName.mtn_momo else None,
            status_checks=0,
        )
        refund = Refund(
            id=refund_id,
            merchant_id=intent.merchant_id,
            livemode=intent.livemode,
            created_at=now,
            metadata_=metadata or {},
            payment_intent_id=intent.id,
            amount=amount,
            fee_returned=returned,
            currency=intent.currency,
            reason=reason,
            status=Status.pending,
            provider=provider.value,
            phone=attempt.phone,
            phone_masked=attempt.phone_masked or "",
            disbursement_id=disbursement.id,
            reserve_transaction_id=reserved.transaction_id,
        )
        intent.amount_refunded += amount
        session.add_all([refund, disbursement])
        await session.flush()
        await enqueue(
            session,
            SEND_TASK,
            {"disbursement_id": disbursement.id},
            job_id=f"{SEND_TASK}:{disbursement.id}",
        )
        await self._event(session, "refund.created", refund, disbursement)
        return refund, disbursement

    async def _reserve(
        self, session: AsyncSession, intent: PaymentIntent, refund_id: str, share: int
    ) -> PostingResult:
        """Hold `share` of the merchant's available balance. When it is short and the payment's
        net still waits in the pending balance, that payment is settled at once (its net moves
        to available, as the settlement job would move it later) and the hold is tried again:
        the refund draws on the payment's own pending funds (docs/refunds.md, "Funding")."""

        async def hold() -> PostingResult:
            return await ledger.reserve(
                session,
                merchant_id=intent.merchant_id,
                livemode=intent.livemode,
                amount=share,
                currency=intent.currency,
                purpose=SourceType.refund,
                source=refund_id,
                idempotency_key=f"{refund_id}:reserve",
                expires_at=None,  # held until the operator's final answer, however late
            )

        reserved = await hold()
        if reserved.outcome in _SHORT and intent.ledger_transaction_id is not None:
            settled = await ledger.settle_now(session, intent.ledger_transaction_id)
            if settled is not None and settled.ok:
                log.info("refund_settled_payment_early", payment_intent=intent.id)
                reserved = await hold()
        if reserved.outcome in _SHORT:
            available = await ledger.balance(
                session,
                merchant_account(
                    intent.merchant_id, intent.livemode, intent.currency, AccountKind.available
                ),
            )
            raise RefundBalanceInsufficient(
                f"this refund takes {share} {intent.currency} from your balance; the available "
                f"balance is {available.spendable} {intent.currency}",
                param="amount",
            )
        _require(reserved, f"the reservation of {refund_id}")
        return reserved

    async def retrieve(self, session: AsyncSession, refund_id: str) -> RefundObject:
        refund = await RefundRepository.from_session(session).get(refund_id)
        if refund is None:
            raise RefundNotFound(f"No such refund: '{refund_id}'", param="id")
        return as_object(
            refund,
            await RefundDisbursementRepository.from_session(session).get(refund.disbursement_id),
        )

    async def list(
        self,
        session: AsyncSession,
        params: ListParams,
        *,
        payment_intent: str | None,
        status: Status | None,
        created: CreatedRange | None,
    ) -> tuple[Sequence[RefundObject], bool]:
        repository = RefundRepository.from_session(session)
        statement = repository.list_statement(
            payment_intent=payment_intent, status=status, created=created
        )
        refunds, has_more = await repository.paginate(statement, params)
        disbursements = await RefundDisbursementRepository.from_session(session).of_refunds(
            [r.disbursement_id for r in refunds]
        )
        return [as_object(r, disbursements.get(r.disbursement_id)) for r in refunds], has_more

    # -- shared --------------------------------------------------------------------------------

    def _move(self, refund: Refund, action: Action) -> None:
        after = transition(refund.status, action)
        if after is None:  # apply_result only acts on a pending disbursement: never happens
            raise RuntimeError(f"refund {refund.id} is {refund.status}: cannot {action}")
        refund.status = after

    async def _event(
        self,
        session: AsyncSession,
        type: str,
        refund: Refund,
        disbursement: RefundDisbursement | None,
    ) -> None:
        await session.flush()
        await event_service.record(
            session,
            merchant_id=refund.merchant_id,
            livemode=refund.livemode,
            type=type,
            snapshot=as_object(refund, disbursement).model_dump(mode="json"),
        )

    # -- worker ----------------------------------------------------------------------------------

    async def send(
        self,
        db: Database,
        providers: ProviderRegistry,
        callback_base: str,
        disbursement_id: str,
        *,
        settings: RefundsSettings,
        final_try: bool,
    ) -> str:
        """Send the transfer with the reference stored for it (Orange's is minted and committed
        first); a retry sends the same reference again. No transaction is held open during an
        operator call."""
        async with db.platform_transaction() as session:
            disbursement = await RefundDisbursementRepository.from_session(session).get(
                disbursement_id
            )
            if disbursement is None:
                return "missing"
            if disbursement.status != "pending" or disbursement.sent_at is not None:
                return "already_sent"
            provider_name = ProviderName(disbursement.provider)
            phone, amount, currency = disbursement.phone, disbursement.amount, disbursement.currency
            reference = disbursement.operator_reference
            description = f"Refund {disbursement.source_id}"[:160]
        provider = providers.get(provider_name)
        if reference is None:
            minted = await provider.reserve_reference(Product.disbursement)
            async with db.platform_transaction() as session:
                reference = await RefundDisbursementRepository.from_session(session).set_reference(
                    disbursement_id, minted
                )
        request = DisbursementRequest(
            external_id=disbursement_id,
            amount=amount,
            currency=currency,
            phone=phone,
            reference=reference,
            description=description,
            callback_url=(
                f"{callback_base}/v1/providers/{provider_name.value}/callback/{disbursement_id}"
            ),
        )
        try:
            result = await provider.disburse(request)
            crash_point("after_operator_call")
        except (ProviderRejected, InvalidRequest, ProviderConfigurationError) as exc:
            # Refused before any money moved.
            result = TransactionResult(
                ref=TransactionRef(
                    provider=provider_name, product=Product.disbursement, reference=reference
                ),
                status=TransactionStatus.failed,
                failure_code=exc.failure_code or FailureCode.not_allowed,
                raw_reason=(exc.raw_code or type(exc).__name__)[:200],
            )
        except ProviderError as exc:
            if (exc.retryable or exc.outcome_unknown) and not final_try:
                raise
            # The money may be on its way: never decide on a guess. The refund stays pending
            # and the status task reads the operator's answer.
            log.warning("refund_outcome_unknown", disbursement_id=disbursement_id, error=str(exc))
            async with db.platform_transaction() as session:
                await RefundDisbursementRepository.from_session(session).schedule_check(
                    disbursement_id,
                    utc_now() + dt.timedelta(seconds=settings.status_check_after_seconds),
                )
            return "unknown"
        async with db.platform_transaction() as session:
            await self.apply_result(session, disbursement_id, result, sent=True, settings=settings)
        return result.status.value

    async def sync(
        self,
        db: Database,
        providers: ProviderRegistry,
        disbursement_id: str,
        *,
        settings: RefundsSettings,
    ) -> str:
        """Read the operator's status of one transfer with our own reference and apply it
        (callbacks and the status task both end here). Idempotent."""
        async with db.platform_transaction() as session:
            disbursements = RefundDisbursementRepository.from_session(session)
            disbursement = await disbursements.get(disbursement_id)
            if disbursement is None:
                return "missing"
            if disbursement.status != "pending":
                return disbursement.status
            if disbursement.sent_at is None or disbursement.operator_reference is None:
                # Never answered (a crash, an unknown outcome): send again with the same
                # reference; the adapter turns a repeat into a status read.
                await enqueue(
                    session,
                    SEND_TASK,
                    {"disbursement_id": disbursement_id},
                    job_id=f"{SEND_TASK}:{disbursement_id}:{disbursement.status_checks}",
                )
                await disbursements.schedule_check(
                    disbursement_id, self._next_check(settings, disbursement.status_checks)
                )
                return "resent"
            ref = TransactionRef(
                provider=ProviderName(disbursement.provider),
                product=Product.disbursement,
                reference=disbursement.operator_reference,
                external_id=disbursement.id,
                amount=disbursement.amount,
            )
            checks = disbursement.status_checks
        result = await providers.get(ref.provider).disbursement_status(ref)
        async with db.platform_transaction() as session:
            await self.apply_result(session, disbursement_id, result, settings=settings)
            if not result.status.is_final:
                await RefundDisbursementRepository.from_session(session).schedule_check(
                    disbursement_id, self._next_check(settings, checks)
                )
        return result.status.value

    def _next_check(self, settings: RefundsSettings, checks: int) -> dt.datetime:
        return next_status_check(
            settings.status_check_after_seconds,
            settings.status_check_max_interval_seconds,
            checks,
        )

    async def apply_result(
        self,
        session: AsyncSession,
        disbursement_id: str,
        result: TransactionResult,
        *,
        settings: RefundsSettings,
        sent: bool = False,
    ) -> bool:
        """Apply the operator's answer for one transfer in the caller's transaction: the
        disbursement, the refund's transition, the ledger (post or release), the intent's
        `amount_refunded` and the event. Returns False when nothing changed (a duplicate or late
        confirmation)."""
        disbursement = await RefundDisbursementRepository.from_session(session).get_for_update(
            disbursement_id
        )
        if disbursement is None or disbursement.status != "pending":
            return False
        refunds = RefundRepository.from_session(session)
        refund = await refunds.get_for_update(disbursement.source_id)
        assert refund is not None
        now = utc_now()
        disbursement.raw_status = (result.raw_status or disbursement.raw_status or "")[:100] or None
        disbursement.raw_reason = (result.raw_reason or "")[:200] or disbursement.raw_reason
        disbursement.operator_transaction_id = (
            result.operator_transaction_id or disbursement.operator_transaction_id
        )
        if sent and disbursement.sent_at is None:
            disbursement.sent_at = now
            disbursement.next_check_at = now + dt.timedelta(
                seconds=settings.status_check_after_seconds
            )
        if result.status is TransactionStatus.pending:
            await session.flush()
            return sent
        disbursement.finished_at = now
        if result.status is TransactionStatus.succeeded:
            disbursement.status = "succeeded"
            self._move(refund, Action.succeed)
            refund.succeeded_at = now
            await self._post(session, refund)
            await self._event(session, "refund.succeeded", refund, disbursement)
        else:
            disbursement.status = "failed"
            disbursement.failure_code = (result.failure_code or FailureCode.unknown).value
            self._move(refund, Action.fail)
            refund.failure_reason, refund.failure_message = _failure(result.failure_code)
            refund.failed_at = now
            voided = await ledger.void(
                session, refund.reserve_transaction_id, idempotency_key=f"{refund.id}:release"
            )
            _require(voided, f"the release of {refund.id}")
            intent = await refunds.intent_for_update(refund.payment_intent_id)
            assert intent is not None
            intent.amount_refunded -= refund.amount
            if refund.reason == LATE_SUCCESS_REASON:
                intent.refund_due = True  # support finds it again (docs/payments.md)
            await self._event(session, "refund.failed", refund, disbursement)
        await session.flush()
        crash_point("before_commit")
        log.info(
            "refund_final", refund=refund.id, disbursement_id=disbursement.id, status=refund.status
        )
        return True

    async def _post(self, session: AsyncSession, refund: Refund) -> None:
        """The reservation is posted (available → reserved); then the money leaves for the
        operator float, where the operator took it from: the merchant's part from reserved and
        the returned fee from fee revenue (docs/refunds.md, "Ledger")."""
        posted = await ledger.post_pending(
            session, refund.reserve_transaction_id, idempotency_key=f"{refund.id}:post"
        )
        _require(posted, f"the posting of {refund.id}")
        legs = [
            Leg(
                merchant_account(
                    refund.merchant_id, refund.livemode, refund.currency, AccountKind.reserved
                ),
                -(refund.amount - refund.fee_returned),
            ),
            Leg(
                platform_account(
                    AccountKind.operator_float, refund.livemode, refund.currency, refund.provider
                ),
                refund.amount,
            ),
        ]
        if refund.fee_returned:
            legs.append(
                Leg(
                    platform_account(AccountKind.fee_revenue, refund.livemode, refund.currency),
                    -refund.fee_returned,
                )
            )
        moved = await ledger.transfer(
            session,
            idempotency_key=f"{refund.id}:float",
            legs=legs,
            type=SourceType.refund,
            currency=refund.currency,
            livemode=refund.livemode,
            merchant_id=refund.merchant_id,
            source=refund.id,
        )
        _require(moved, f"the transfer of {refund.id} to the operator float")

    async def due(self, db: Database, settings: RefundsSettings) -> int:
        """Enqueue a status read for every transfer still pending whose check is due."""
        now = utc_now()
        async with db.platform_transaction() as session:
            disbursements = RefundDisbursementRepository.from_session(session)
            due = await disbursements.due_for_check(now, settings.janitor_batch)
            for disbursement_id in due:
                # One read per transfer and due time; the read reschedules the next one.
                await disbursements.schedule_check(
                    disbursement_id,
                    now + dt.timedelta(seconds=settings.status_check_max_interval_seconds),
                )
                await enqueue(
                    session,
                    SYNC_TASK,
                    {"disbursement_id": disbursement_id},
                    job_id=f"{SYNC_TASK}:{disbursement_id}:{int(now.timestamp())}",
                )
        return len(due)

    async def refund_late_success(self, db: Database, intent_id: str) -> str:
        """Refund in full what a canceled intent received late (docs/payments.md, "Late
        successes"): reason `expired_uncaptured`, the flag `refund_due` cleared in the same
        commit. Idempotent: a repeat finds the flag cleared."""
        try:
            async with db.platform_transaction() as session:
                intent = await RefundRepository.from_session(session).intent_for_update(intent_id)
                if intent is None or not intent.refund_due:
                    return "nothing_due"
                intent.refund_due = False
                if intent.amount_received - intent.amount_refunded <= 0:
                    return "already_refunded"
                created, _ = await self._create(
                    session, intent, amount=None, reason=LATE_SUCCESS_REASON, metadata=None
                )
                return created.id
        except RefundBalanceInsufficient:
            # Rolled back: the intent stays flagged for support.
            log.error("late_success_refund_short", payment_intent=intent_id)
            return "balance_insufficient"


refund = RefundService()
