"""Payouts: the API's side (create with the funds reserved, cancel, read; staff review) and the
worker's (check the wallet, hand the transfer to the operator with our stored reference, apply
the operator's confirmed answer, read the status of transfers still in transit). docs/payouts.md.

Every status change goes through `states.transition` and is written with its event and its ledger
posting (reserve, post or void) in the caller's one transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject
from mboa.config import PayoutsSettings
from mboa.events.service import event as event_service
from mboa.kit.faults import crash_point
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.time import next_status_check, utc_now
from mboa.ledger.accounts import AccountKind, merchant_account, platform_account
from mboa.ledger.posting import Leg, Outcome, PostingResult, SourceType
from mboa.ledger.service import ledger
from mboa.models import Disbursement, Payout
from mboa.payouts.exceptions import (
    BalanceInsufficient,
    PayoutAmountTooLarge,
    PayoutAmountTooSmall,
    PayoutCurrencyUnsupported,
    PayoutNotFound,
    PayoutUnexpectedState,
)
from mboa.payouts.repository import DisbursementRepository, PayoutRepository
from mboa.payouts.schemas import Destination, PayoutCreate
from mboa.payouts.schemas import Payout as PayoutObject
from mboa.payouts.states import Action, Status, transition
from mboa.postgres import Database
from mboa.providers.errors import (
    InvalidRequest,
    ProviderConfigurationError,
    ProviderError,
    ProviderRejected,
    UnsupportedCapability,
)
from mboa.providers.phone import resolve_provider
from mboa.providers.types import (
    DisbursementRequest,
    FailureCode,
    Product,
    ProviderName,
    TransactionRef,
    TransactionResult,
    TransactionStatus,
)
from mboa.worker import enqueue

if TYPE_CHECKING:
    from mboa.providers.base import PaymentProvider
    from mboa.providers.registry import ProviderRegistry

log = structlog.get_logger("mboa.payouts")

SEND_TASK = "payouts.send"
SYNC_TASK = "payouts.sync_disbursement"
SOURCE_TYPE = "payout"

FAILURES: dict[FailureCode | None, tuple[str, str]] = {
    FailureCode.payee_not_found: (
        "destination_not_found",
        "No active mobile-money wallet has this number.",
    ),
    FailureCode.payer_not_found: (
        "destination_not_found",
        "No active mobile-money wallet has this number.",
    ),
    FailureCode.payee_not_allowed: (
        "destination_not_allowed",
        "The destination wallet may not receive money.",
    ),
    FailureCode.limit_reached: (
        "destination_limit_reached",
        "The destination wallet's limit was reached.",
    ),
    FailureCode.insufficient_funds: (
        "operator_insufficient_funds",
        "Our disbursement account at the operator lacked the amount; try again later.",
    ),
    FailureCode.operator_error: (
        "could_not_process",
        "The operator could not process the transfer.",
    ),
}
_REFUSED = ("operator_refused", "The operator refused the transfer.")
INACTIVE = ("destination_inactive", "The destination number is not an active wallet.")
"""`failure_code` and `failure_message` of a failed payout (docs/payouts.md, "Failures")."""


def _failure(code: FailureCode | None) -> tuple[str, str]:
    return FAILURES.get(code, _REFUSED)


def as_object(payout: Payout, disbursement: Disbursement | None) -> PayoutObject:
    return PayoutObject(
        id=payout.id,
        livemode=payout.livemode,
        created=payout.created_at,
        metadata=payout.metadata_,
        amount=payout.amount,
        currency=payout.currency,
        description=payout.description,
        status=Status(payout.status),
        destination=Destination(phone=payout.phone_masked, provider=ProviderName(payout.provider)),
        review_status=payout.review_status,  # type: ignore[arg-type]
        failure_code=payout.failure_code,
        failure_message=payout.failure_message,
        cancellation_reason=payout.cancellation_reason,  # type: ignore[arg-type]
        canceled_at=payout.canceled_at,
        paid_at=payout.paid_at,
        failed_at=payout.failed_at,
        balance_transaction=payout.reserve_transaction_id,
        operator_reference=disbursement.operator_reference if disbursement else None,
        operator_transaction_id=disbursement.operator_transaction_id if disbursement else None,
    )


def _require(result: PostingResult, what: str) -> None:
    if not result.ok:
        raise RuntimeError(f"the ledger refused {what}: {result.outcome}")


class PayoutService:
    # -- API ---------------------------------------------------------------------------------

    async def create(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        body: PayoutCreate,
        settings: PayoutsSettings,
    ) -> PayoutObject:
        """Validate, reserve the amount from the available balance, and (unless a review is
        needed) enqueue the transfer: one commit. `session` is the platform role's (the ledger's
        write functions are the platform's only); every row written names the caller's tenant."""
        tenant = auth.tenant
        currency = body.currency.upper()
        if currency not in settings.currencies:
            raise PayoutCurrencyUnsupported(
                f"currency {body.currency!r} is not supported; use {', '.join(settings.currencies)}",
                param="currency",
            )
        if body.amount < settings.min_amount:
            raise PayoutAmountTooSmall(
                f"amount must be at least {settings.min_amount} {currency}", param="amount"
            )
        phone, provider = resolve_provider(
            body.destination.phone,
            body.destination.provider,
            param="destination[phone]",
            provider_param="destination[provider]",
            allow_sandbox=not tenant.livemode,
        )
        limit = settings.max_amount.get(provider.value)
        if limit is not None and body.amount > limit:
            raise PayoutAmountTooLarge(
                f"{provider.value} sends at most {limit} {currency} in one transfer",
                param="amount",
            )
        now = utc_now()
        payout_id = new_id(Prefix.payout)
        reserved = await ledger.reserve(
            session,
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            amount=body.amount,
            currency=currency,
            purpose=SourceType.payout,
            source=payout_id,
            idempotency_key=f"{payout_id}:reserve",
            expires_at=None,  # held until the operator's final answer, however late
        )
        if reserved.outcome in (Outcome.exceeds_credits, Outcome.exceeds_debits):
            available = await ledger.balance(
                session,
                merchant_account(
                    tenant.merchant_id, tenant.livemode, currency, AccountKind.available
                ),
            )
            raise BalanceInsufficient(
                f"amount {body.amount} {currency} is above the available balance "
                f"({available.spendable} {currency})",
                param="amount",
            )
        _require(reserved, f"the reservation of {payout_id}")
        review = (
            "awaiting"
            if tenant.livemode and body.amount > settings.approval_threshold
            else "not_required"
        )
        disbursement = Disbursement(
            id=new_id(Prefix.disbursement),
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            created_at=now,
            source_type=SOURCE_TYPE,
            source_id=payout_id,
            provider=provider.value,
            phone=phone.e164,
            amount=body.amount,
            currency=currency,
            status="pending",
            # MTN's reference is a UUID v4 of ours, stored now, before any call. Orange's
            # payToken comes from `cashin/init`: the worker stores it before `cashin/pay`.
            operator_reference=str(uuid.uuid4()) if provider is ProviderName.mtn_momo else None,
            status_checks=0,
        )
        payout = Payout(
            id=payout_id,
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            created_at=now,
            metadata_=body.metadata or {},
            amount=body.amount,
            currency=currency,
            description=body.description,
            status=Status.pending,
            provider=provider.value,
            phone=phone.e164,
            phone_masked=phone.masked,
            review_status=review,
            disbursement_id=disbursement.id,
            reserve_transaction_id=reserved.transaction_id,
        )
        session.add_all([payout, disbursement])
        await session.flush()
        if review == "not_required":
            await self._enqueue_send(session, disbursement.id)
        await self._event(session, "payout.created", payout, disbursement)
        return as_object(payout, disbursement)

    async def cancel(
        self, session: AsyncSession, auth: AuthSubject, payout_id: str
    ) -> PayoutObject:
        """Cancel a payout that has not been handed to the operator; the funds come back."""
        tenant = auth.tenant
        payout = await PayoutRepository.from_session(session).get_of_tenant_for_update(
            payout_id, merchant_id=tenant.merchant_id, livemode=tenant.livemode
        )
        if payout is None:
            raise PayoutNotFound(f"No such payout: '{payout_id}'", param="id")
        return await self._cancel(session, payout, Action.cancel, "requested_by_merchant")

    async def retrieve(self, session: AsyncSession, payout_id: str) -> PayoutObject:
        payout = await PayoutRepository.from_session(session).get(payout_id)
        if payout is None:
            raise PayoutNotFound(f"No such payout: '{payout_id}'", param="id")
        return as_object(
            payout, await DisbursementRepository.from_session(session).get(payout.disbursement_id)
        )

    async def list(
        self,
        session: AsyncSession,
        params: ListParams,
        *,
        status: Status | None,
        created: CreatedRange | None,
    ) -> tuple[Sequence[PayoutObject], bool]:
        repository = PayoutRepository.from_session(session)
        statement = repository.list_statement(status=status, created=created)
        payouts, has_more = await repository.paginate(statement, params)
        disbursements = await DisbursementRepository.from_session(session).of_payouts(
            [p.disbursement_id for p in payouts]
        )
        return [as_object(p, disbursements.get(p.disbursement_id)) for p in payouts], has_more

    # -- staff ---------------------------------------------------------------------------------

    async def approve(
        self, session: AsyncSession, auth: AuthSubject, payout_id: str
    ) -> PayoutObject:
        payout = await self._awaiting_review(session, payout_id, Action.approve)
        payout.review_status = "approved"
        payout.reviewed_by = auth.user_id
        payout.reviewed_at = utc_now()
        await self._enqueue_send(session, payout.disbursement_id)
        disbursement = await DisbursementRepository.from_session(session).get(
            payout.disbursement_id
        )
        await self._event(session, "payout.approved", payout, disbursement)
        return as_object(payout, disbursement)

    async def reject(
        self, session: AsyncSession, auth: AuthSubject, payout_id: str
    ) -> PayoutObject:
        payout = await self._awaiting_review(session, payout_id, Action.reject)
        payout.review_status = "rejected"
        payout.reviewed_by = auth.user_id
        payout.reviewed_at = utc_now()
        return await self._cancel(session, payout, Action.reject, "rejected_by_platform")

    async def _awaiting_review(
        self, session: AsyncSession, payout_id: str, action: Action
    ) -> Payout:
        payout = await PayoutRepository.from_session(session).get_for_update(payout_id)
        if payout is None:
            raise PayoutNotFound(f"No such payout: '{payout_id}'", param="id")
        if payout.review_status != "awaiting" or transition(payout.status, action) is None:
            raise PayoutUnexpectedState(
                f"This payout is {payout.status} (review {payout.review_status}): only a pending "
                "payout awaiting review can be approved or rejected.",
                param="id",
            )
        return payout

    # -- shared --------------------------------------------------------------------------------

    def _move(self, payout: Payout, action: Action) -> None:
        after = transition(payout.status, action)
        if after is None:
            raise PayoutUnexpectedState(
                f"This payout is {payout.status}: it cannot be {_VERBS[action]}.", param="id"
            )
        payout.status = after

    async def _cancel(
        self, session: AsyncSession, payout: Payout, action: Action, reason: str
    ) -> PayoutObject:
        self._move(payout, action)
        payout.cancellation_reason = reason
        payout.canceled_at = utc_now()
        disbursement = await DisbursementRepository.from_session(session).get_for_update(
            payout.disbursement_id
        )
        assert disbursement is not None
        disbursement.status = "canceled"
        disbursement.finished_at = payout.canceled_at
        await self._release(session, payout)
        await self._event(session, "payout.canceled", payout, disbursement)
        return as_object(payout, disbursement)

    async def _release(self, session: AsyncSession, payout: Payout) -> None:
        voided = await ledger.void(
            session, payout.reserve_transaction_id, idempotency_key=f"{payout.id}:release"
        )
        _require(voided, f"the release of {payout.id}")

    async def _enqueue_send(self, session: AsyncSession, disbursement_id: str) -> None:
        await enqueue(
            session,
            SEND_TASK,
            {"disbursement_id": disbursement_id},
            job_id=f"{SEND_TASK}:{disbursement_id}",
        )

    async def _event(
        self,
        session: AsyncSession,
        type: str,
        payout: Payout,
        disbursement: Disbursement | None,
    ) -> None:
        await session.flush()
        await event_service.record(
            session,
            merchant_id=payout.merchant_id,
            livemode=payout.livemode,
            type=type,
            snapshot=as_object(payout, disbursement).model_dump(mode="json"),
        )

    # -- worker ----------------------------------------------------------------------------------

    async def send(
        self,
        db: Database,
        providers: ProviderRegistry,
        callback_base: str,
        disbursement_id: str,
        *,
        settings: PayoutsSettings,
        final_try: bool,
    ) -> str:
        """Check the wallet, move the payout to `in_transit` (its own commit, before any transfer
        call: from then on nothing can cancel it), then send the transfer with the reference
        stored for it; a retry sends the same reference again. No transaction is held open
        during an operator call."""
        async with db.platform_transaction() as session:
            disbursement = await DisbursementRepository.from_session(session).get(disbursement_id)
            if disbursement is None:
                return "missing"
            payout = await PayoutRepository.from_session(session).get(disbursement.source_id)
            assert payout is not None
            if disbursement.status != "pending" or disbursement.sent_at is not None:
                return "already_sent"
            if payout.status == Status.pending and payout.review_status == "awaiting":
                return "awaiting_review"
            if payout.status not in (Status.pending, Status.in_transit):
                return payout.status
            provider_name = ProviderName(disbursement.provider)
            phone, amount, currency = disbursement.phone, disbursement.amount, disbursement.currency
            reference = disbursement.operator_reference
            description = (payout.description or payout.id)[:160]
            checked = payout.status == Status.in_transit
        provider = providers.get(provider_name)
        if not checked:
            active = await self._holder_active(provider, phone, disbursement_id, final_try)
            async with db.platform_transaction() as session:
                if not await self._hand_over(session, disbursement_id, active, settings):
                    return "not_sent"
        if reference is None:
            minted = await provider.reserve_reference(Product.disbursement)
            async with db.platform_transaction() as session:
                reference = await DisbursementRepository.from_session(session).set_reference(
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
            # The money may be on its way: never decide on a guess. The payout stays in
            # transit and the status task reads the operator's answer.
            log.warning("payout_outcome_unknown", disbursement_id=disbursement_id, error=str(exc))
            return "unknown"
        async with db.platform_transaction() as session:
            await self.apply_result(session, disbursement_id, result, sent=True, settings=settings)
        return result.status.value

    async def _holder_active(
        self, provider: PaymentProvider, phone: str, disbursement_id: str, final_try: bool
    ) -> bool | None:
        """True/False from the operator's account-holder check; None when it cannot say (Orange
        documents no such check; an outage on the last try): the transfer itself then decides."""
        try:
            return await provider.is_account_holder_active(phone)
        except UnsupportedCapability:
            return None
        except ProviderError as exc:
            if exc.retryable and not final_try:
                raise
            log.warning(
                "payout_holder_check_failed", disbursement_id=disbursement_id, error=str(exc)
            )
            return None

    async def _hand_over(
        self,
        session: AsyncSession,
        disbursement_id: str,
        active: bool | None,
        settings: PayoutsSettings,
    ) -> bool:
        """`pending` → `in_transit`, or `failed` when the wallet is not active. False when the
        payout is no longer ours to send (canceled meanwhile)."""
        payout, disbursement = await self._lock(session, disbursement_id)
        assert payout is not None
        assert disbursement is not None
        if payout.status == Status.in_transit:
            return True
        if transition(payout.status, Action.send) is None:
            return False
        now = utc_now()
        if active is False:
            disbursement.status = "failed"
            disbursement.failure_code = FailureCode.payee_not_found.value
            disbursement.raw_reason = "account_holder_inactive"
            disbursement.finished_at = now
            await self._fail(session, payout, disbursement, INACTIVE, now)
            return False
        self._move(payout, Action.send)
        disbursement.next_check_at = now + dt.timedelta(seconds=settings.status_check_after_seconds)
        await self._event(session, "payout.updated", payout, disbursement)
        return True

    async def _lock(
        self, session: AsyncSession, disbursement_id: str
    ) -> tuple[Payout | None, Disbursement | None]:
        """Lock the payout, then its disbursement: the order every path takes (cancel and the
        staff review lock the payout first too), so two of them never wait on each other in a
        cycle."""
        disbursements = DisbursementRepository.from_session(session)
        payout_id = await disbursements.source_of(disbursement_id)
        if payout_id is None:
            return None, None
        payout = await PayoutRepository.from_session(session).get_for_update(payout_id)
        return payout, await disbursements.get_for_update(disbursement_id)

    async def _fail(
        self,
        session: AsyncSession,
        payout: Payout,
        disbursement: Disbursement,
        failure: tuple[str, str],
        now: dt.datetime,
    ) -> None:
        self._move(payout, Action.fail)
        payout.failure_code, payout.failure_message = failure
        payout.failed_at = now
        await self._release(session, payout)
        await self._event(session, "payout.failed", payout, disbursement)

    async def sync(
        self,
        db: Database,
        providers: ProviderRegistry,
        disbursement_id: str,
        *,
        settings: PayoutsSettings,
    ) -> str:
        """Read the operator's status of one transfer with our own reference and apply it
        (callbacks and the status task both end here). Idempotent."""
        async with db.platform_transaction() as session:
            disbursement = await DisbursementRepository.from_session(session).get(disbursement_id)
            if disbursement is None:
                return "missing"
            if disbursement.status != "pending":
                return disbursement.status
            if disbursement.sent_at is None or disbursement.operator_reference is None:
                # Handed over but never answered (a crash, an unknown outcome): send again with
                # the same reference; the adapter turns a repeat into a status read.
                await enqueue(
                    session,
                    SEND_TASK,
                    {"disbursement_id": disbursement_id},
                    job_id=f"{SEND_TASK}:{disbursement_id}:{disbursement.status_checks}",
                )
                await DisbursementRepository.from_session(session).schedule_check(
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
                await DisbursementRepository.from_session(session).schedule_check(
                    disbursement_id, self._next_check(settings, checks)
                )
        return result.status.value

    def _next_check(self, settings: PayoutsSettings, checks: int) -> dt.datetime:
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
        settings: PayoutsSettings,
        sent: bool = False,
    ) -> bool:
        """Apply the operator's answer for one transfer in the caller's transaction: the
        disbursement, the payout's transition, the ledger (post or release) and the event.
        Returns False when nothing changed (a duplicate or late confirmation)."""
        payout, disbursement = await self._lock(session, disbursement_id)
        if payout is None or disbursement is None or disbursement.status != "pending":
            return False
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
            self._move(payout, Action.succeed)
            payout.paid_at = now
            await self._post(session, payout)
            await self._event(session, "payout.paid", payout, disbursement)
        else:
            disbursement.status = "failed"
            disbursement.failure_code = (result.failure_code or FailureCode.unknown).value
            await self._fail(session, payout, disbursement, _failure(result.failure_code), now)
        await session.flush()
        crash_point("before_commit")
        log.info(
            "payout_final", payout=payout.id, disbursement_id=disbursement.id, status=payout.status
        )
        return True

    async def _post(self, session: AsyncSession, payout: Payout) -> None:
        """The reservation is posted (available → reserved), then the money leaves reserved for
        the operator float, where the operator took it from (docs/ledger.md, "Service API")."""
        posted = await ledger.post_pending(
            session, payout.reserve_transaction_id, idempotency_key=f"{payout.id}:post"
        )
        _require(posted, f"the posting of {payout.id}")
        moved = await ledger.transfer(
            session,
            idempotency_key=f"{payout.id}:float",
            legs=[
                Leg(
                    merchant_account(
                        payout.merchant_id, payout.livemode, payout.currency, AccountKind.reserved
                    ),
                    -payout.amount,
                ),
                Leg(
                    platform_account(
                        AccountKind.operator_float,
                        payout.livemode,
                        payout.currency,
                        payout.provider,
                    ),
                    payout.amount,
                ),
            ],
            type=SourceType.payout,
            currency=payout.currency,
            livemode=payout.livemode,
            merchant_id=payout.merchant_id,
            source=payout.id,
        )
        _require(moved, f"the transfer of {payout.id} to the operator float")

    async def due(self, db: Database, settings: PayoutsSettings) -> int:
        """Enqueue a status read for every transfer still in transit whose check is due."""
        now = utc_now()
        async with db.platform_transaction() as session:
            disbursements = DisbursementRepository.from_session(session)
            due = await disbursements.due_for_check(now, settings.janitor_batch, SOURCE_TYPE)
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


_VERBS = {
    Action.approve: "approved",
    Action.reject: "rejected",
    Action.cancel: "canceled",
    Action.send: "sent",
    Action.fail: "marked failed",
    Action.succeed: "marked paid",
}

payout = PayoutService()
