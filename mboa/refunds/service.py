"""Refunds: the API's side (create with the funds reserved, read), the refund's part of its
transfer, and the automatic refund of late successes (docs/refunds.md). The transfer itself —
the operator call, status reads, callbacks, the ledger's reserve/post/release — is
`mboa.disbursements`; this module is the refund's `Owner` there: the refundable amount, the
fee share, the funding from the payment's pending funds, its statuses and events.

Every status change goes through `states.transition` and is written with its event and its
ledger step in the caller's one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.service import Action as AuditAction
from mboa.audit.service import audit
from mboa.auth.subject import AuthSubject
from mboa.config import RefundsSettings
from mboa.disbursements.service import REFUND, Kind, Outgoing
from mboa.disbursements.service import disbursement as disbursement_service
from mboa.events.service import event as event_service
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.time import utc_now
from mboa.ledger.accounts import AccountKind, merchant_account
from mboa.ledger.posting import Outcome, PostingResult, SourceType
from mboa.ledger.service import ledger
from mboa.models import Disbursement, PaymentIntent, Refund
from mboa.postgres import Database
from mboa.providers.types import FailureCode, ProviderName
from mboa.refunds.exceptions import (
    RefundAmountInvalid,
    RefundBalanceInsufficient,
    RefundExceedsRefundable,
    RefundNotFound,
    RefundPaymentIntentNotFound,
    RefundPaymentNotRefundable,
)
from mboa.refunds.repository import RefundRepository
from mboa.refunds.schemas import Refund as RefundObject
from mboa.refunds.schemas import RefundCreate, RefundDestination
from mboa.refunds.states import Action, Status, transition

if TYPE_CHECKING:
    from mboa.providers.registry import ProviderRegistry

log = structlog.get_logger("mboa.refunds")

LATE_SUCCESS_TASK = "refunds.refund_late_success"
"""Enqueued by the payments flow when a success arrives after the intent was canceled."""
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


def fee_share(
    fee: int, received: int, refunded_before: int, amount: int, returned_before: int
) -> int:
    """The part of a payment's `fee` given back with a refund of `amount`, after
    `refunded_before` was refunded and `returned_before` of the fee given back by the refunds
    that have not failed: what brings the fee returned up to its proportional share
    floor(fee * refunded_after / received), so all refunds together return exactly the fee, whatever
    failed on the way. Never more than `amount - 1`: the merchant's part of a refund is at
    least 1 (a reservation of nothing is no reservation), which only matters for refunds of a
    few francs (docs/refunds.md, "Ledger")."""
    target = fee * (refunded_before + amount) // received
    return max(0, min(target - returned_before, amount - 1))


def as_object(refund: Refund, disbursement: Disbursement | None) -> RefundObject:
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


_SHORT = (Outcome.exceeds_credits, Outcome.exceeds_debits)


class RefundService:
    kind: Kind = REFUND

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
        created = as_object(refund, disbursement)
        await audit.record(
            session,
            action=AuditAction.refund_created,
            target=("refund", refund.id),
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            after=created,
        )
        return created

    async def _create(
        self,
        session: AsyncSession,
        intent: PaymentIntent,
        *,
        amount: int | None,
        reason: str | None,
        metadata: dict[str, str] | None,
    ) -> tuple[Refund, Disbursement]:
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
        returned = fee_share(
            intent.fee,
            intent.amount_received,
            intent.amount_refunded,
            amount,
            await RefundRepository.from_session(session).fee_returned(intent.id),
        )
        share = amount - returned
        refund_id = new_id(Prefix.refund)
        reserved, drawn, drawn_until = await self._reserve(session, intent, refund_id, share)
        now = utc_now()
        provider = ProviderName(attempt.provider)
        disbursement = disbursement_service.new(
            REFUND,
            merchant_id=intent.merchant_id,
            livemode=intent.livemode,
            now=now,
            source_id=refund_id,
            provider=provider,
            phone=attempt.phone,
            amount=amount,
            currency=intent.currency,
            check_at=None,  # set when sent; the outbox and the job's retries deliver the send
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
            drawn_from_pending=drawn,
            drawn_until=drawn_until,
        )
        intent.amount_refunded += amount
        session.add_all([refund, disbursement])
        await session.flush()
        await disbursement_service.enqueue_send(session, REFUND, disbursement.id)
        await self._event(session, "refund.created", refund, disbursement)
        return refund, disbursement

    async def _reserve(
        self, session: AsyncSession, intent: PaymentIntent, refund_id: str, share: int
    ) -> tuple[PostingResult, int, dt.datetime | None]:
        """Hold `share` of the merchant's available balance. When it is short and the payment's
        net still waits in the pending balance, exactly the missing part of it is made
        spendable (`ledger.draw_pending`: the rest stays unspendable until the payment's own
        settlement time) and the hold is tried again (docs/refunds.md, "Funding"). Returns the
        reservation, what it drew from pending and until when that would have waited."""
        available = merchant_account(
            intent.merchant_id, intent.livemode, intent.currency, AccountKind.available
        )

        async def hold() -> PostingResult:
            return await disbursement_service.reserve(
                session,
                purpose=SourceType.refund,
                source=refund_id,
                merchant_id=intent.merchant_id,
                livemode=intent.livemode,
                amount=share,
                currency=intent.currency,
            )

        reserved = await hold()
        drawn, until = 0, None
        if reserved.outcome in _SHORT and intent.ledger_transaction_id is not None:
            missing = share - max((await ledger.balance(session, available)).spendable, 0)
            draw = await ledger.draw_pending(
                session,
                intent.ledger_transaction_id,
                amount=missing,
                idempotency_key=f"{refund_id}:draw",
            )
            if draw is not None and draw.amount > 0:
                drawn, until = draw.amount, draw.until
                log.info("refund_drew_on_pending", payment_intent=intent.id, amount=drawn)
                reserved = await hold()
        if reserved.outcome in _SHORT:
            # Raising rolls the whole transaction back, the draw on pending included.
            spendable = (await ledger.balance(session, available)).spendable
            raise RefundBalanceInsufficient(
                f"this refund takes {share} {intent.currency} from your balance; the available "
                f"balance is {spendable} {intent.currency}",
                param="amount",
            )
        if not reserved.ok:
            raise RuntimeError(f"the ledger refused the reservation of {refund_id}: {reserved}")
        return reserved, drawn, until

    async def retrieve(self, session: AsyncSession, refund_id: str) -> RefundObject:
        refund = await RefundRepository.from_session(session).get(refund_id)
        if refund is None:
            raise RefundNotFound(f"No such refund: '{refund_id}'", param="id")
        return as_object(refund, await disbursement_service.get(session, refund.disbursement_id))

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
        disbursements = await disbursement_service.get_many(
            session, [r.disbursement_id for r in refunds]
        )
        return [as_object(r, disbursements.get(r.disbursement_id)) for r in refunds], has_more

    # -- shared --------------------------------------------------------------------------------

    def _move(self, refund: Refund, action: Action) -> str:
        """Apply `action`; returns the status before (for the event's `previous_attributes`)."""
        before = refund.status
        after = transition(before, action)
        if after is None:  # the transfer only reports on a pending disbursement: never happens
            raise RuntimeError(f"refund {refund.id} is {refund.status}: cannot {action}")
        refund.status = after
        return before

    async def _event(
        self,
        session: AsyncSession,
        type: str,
        refund: Refund,
        disbursement: Disbursement | None,
        *,
        previous: dict[str, Any] | None = None,
    ) -> None:
        await session.flush()
        await event_service.record(
            session,
            merchant_id=refund.merchant_id,
            livemode=refund.livemode,
            type=type,
            snapshot=as_object(refund, disbursement).model_dump(mode="json"),
            previous_attributes=previous,
        )

    # -- the refund's part of its transfer (`mboa.disbursements.service.Owner`) ----------------

    async def lock(self, session: AsyncSession, source_id: str) -> Refund | None:
        return await RefundRepository.from_session(session).get_for_update(source_id)

    async def outgoing(self, session: AsyncSession, disbursement: Disbursement) -> Outgoing | str:
        # Nothing to check or hand over: the refund was handed to the worker when created.
        return Outgoing(description=f"Refund {disbursement.source_id}", hand_over=False)

    def hand_over_state(self, row: Refund) -> bool | None:
        return None

    async def hand_over(
        self, session: AsyncSession, row: Refund, disbursement: Disbursement
    ) -> None:
        return None

    async def succeeded(
        self, session: AsyncSession, row: Refund, disbursement: Disbursement, now: dt.datetime
    ) -> None:
        before = self._move(row, Action.succeed)
        row.succeeded_at = now
        await disbursement_service.post(
            session,
            purpose=SourceType.refund,
            source=row.id,
            reservation=row.reserve_transaction_id,
            merchant_id=row.merchant_id,
            livemode=row.livemode,
            currency=row.currency,
            provider=row.provider,
            amount=row.amount,
            fee_returned=row.fee_returned,
        )
        await self._event(
            session, "refund.succeeded", row, disbursement, previous={"status": before}
        )

    async def failed(
        self,
        session: AsyncSession,
        row: Refund,
        disbursement: Disbursement,
        code: FailureCode | None,
        now: dt.datetime,
        *,
        inactive: bool = False,
    ) -> None:
        before = self._move(row, Action.fail)
        row.failure_reason, row.failure_message = _failure(code)
        row.failed_at = now
        await disbursement_service.release(
            session, source=row.id, reservation=row.reserve_transaction_id
        )
        intent = await RefundRepository.from_session(session).intent_for_update(
            row.payment_intent_id
        )
        assert intent is not None
        intent.amount_refunded -= row.amount
        if row.reason == LATE_SUCCESS_REASON:
            intent.refund_due = True  # support finds it again (docs/payments.md)
        if (
            row.drawn_from_pending
            and row.drawn_until is not None
            and row.drawn_until > now
            and intent.ledger_transaction_id is not None
        ):
            # What the refund drew from the payment's pending funds waits again until the
            # payment's settlement time: a failed refund must not make it available early.
            deferred = await ledger.defer(
                session,
                transaction_id=intent.ledger_transaction_id,
                merchant_id=row.merchant_id,
                livemode=row.livemode,
                currency=row.currency,
                amount=row.drawn_from_pending,
                until=row.drawn_until,
                idempotency_key=f"{row.id}:defer",
            )
            if not deferred.ok:
                raise RuntimeError(f"the ledger refused to defer {row.id}: {deferred.outcome}")
        await self._event(session, "refund.failed", row, disbursement, previous={"status": before})

    # -- worker entry points -------------------------------------------------------------------

    async def sync(
        self,
        db: Database,
        providers: ProviderRegistry,
        disbursement_id: str,
        *,
        settings: RefundsSettings,
        recheck: bool = False,
    ) -> str:
        return await disbursement_service.sync(
            db, providers, disbursement_id, owner=self, settings=settings, recheck=recheck
        )

    async def due(self, db: Database, settings: RefundsSettings) -> int:
        """Enqueue a status read for every transfer still pending whose check is due."""
        return await disbursement_service.due(db, REFUND, settings)

    async def refund_late_success(self, db: Database, intent_id: str) -> str:
        """Refund what an intent received late (docs/payments.md, "Late successes"): all of
        it for a canceled intent; for a succeeded one, what it received beyond its `amount`
        (a second attempt's money). Reason `expired_uncaptured`, the flag `refund_due` cleared
        in the same commit. Idempotent: a repeat finds the flag cleared."""
        try:
            async with db.platform_transaction() as session:
                repository = RefundRepository.from_session(session)
                intent = await repository.intent_for_update(intent_id)
                if intent is None or not intent.refund_due:
                    return "nothing_due"
                intent.refund_due = False
                owed = intent.amount_received - intent.amount_refunded
                if intent.status == "succeeded":
                    # The merchant keeps one payment; the late ones (and only those, not what
                    # the merchant refunded of its own) go back.
                    late = intent.amount_received - intent.amount
                    owed = min(
                        owed, late - await repository.refunded_for(intent.id, LATE_SUCCESS_REASON)
                    )
                if owed <= 0:
                    return "already_refunded"
                created, _ = await self._create(
                    session, intent, amount=owed, reason=LATE_SUCCESS_REASON, metadata=None
                )
                return created.id
        except RefundBalanceInsufficient:
            # Rolled back: the intent stays flagged for support.
            log.error("late_success_refund_short", payment_intent=intent_id)
            return "balance_insufficient"


refund = RefundService()
