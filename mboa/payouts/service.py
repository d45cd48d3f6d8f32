"""Payouts: the API's side (create with the funds reserved, cancel, read; staff review) and the
payout's part of its transfer (docs/payouts.md). The transfer itself — the operator call, status
reads, callbacks, the ledger's reserve/post/release — is `mboa.disbursements`; this module is
the payout's `Owner` there: its statuses, the staff review, the hand-over to `in_transit`, its
failures and events.

Every status change goes through `states.transition` and is written with its event and its ledger
step in the caller's one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.audit.service import Action as AuditAction
from mboa.audit.service import audit
from mboa.auth.subject import AuthSubject
from mboa.config import PayoutsSettings
from mboa.disbursements.service import PAYOUT, Kind, Outgoing
from mboa.disbursements.service import disbursement as disbursement_service
from mboa.events.service import event as event_service
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.time import utc_now
from mboa.ledger.accounts import AccountKind, merchant_account
from mboa.ledger.posting import Outcome, SourceType
from mboa.ledger.service import ledger
from mboa.mail.service import mail
from mboa.models import Disbursement, Payout
from mboa.payouts.exceptions import (
    BalanceInsufficient,
    PayoutAmountTooLarge,
    PayoutAmountTooSmall,
    PayoutCurrencyUnsupported,
    PayoutNotFound,
    PayoutUnexpectedState,
)
from mboa.payouts.repository import PayoutRepository
from mboa.payouts.schemas import Destination, PayoutCreate
from mboa.payouts.schemas import Payout as PayoutObject
from mboa.payouts.states import Action, Status, transition
from mboa.postgres import Database, TenantContext
from mboa.providers.phone import resolve_provider
from mboa.providers.types import FailureCode, ProviderName

if TYPE_CHECKING:
    from mboa.providers.registry import ProviderRegistry

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


class PayoutService:
    kind: Kind = PAYOUT

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
        reserved = await disbursement_service.reserve(
            session,
            purpose=SourceType.payout,
            source=payout_id,
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            amount=body.amount,
            currency=currency,
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
        if not reserved.ok:
            raise RuntimeError(f"the ledger refused the reservation of {payout_id}: {reserved}")
        review = (
            "awaiting"
            if tenant.livemode and body.amount > settings.approval_threshold
            else "not_required"
        )
        disbursement = disbursement_service.new(
            PAYOUT,
            merchant_id=tenant.merchant_id,
            livemode=tenant.livemode,
            now=now,
            source_id=payout_id,
            provider=provider,
            phone=phone.e164,
            amount=body.amount,
            currency=currency,
            check_at=None,  # set when the payout is handed over to the operator
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
            await disbursement_service.enqueue_send(session, PAYOUT, disbursement.id)
        await self._event(session, "payout.created", payout, disbursement)
        created = as_object(payout, disbursement)
        await self._audit(session, AuditAction.payout_requested, payout, None, created)
        return created

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
        return as_object(payout, await disbursement_service.get(session, payout.disbursement_id))

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
        disbursements = await disbursement_service.get_many(
            session, [p.disbursement_id for p in payouts]
        )
        return [as_object(p, disbursements.get(p.disbursement_id)) for p in payouts], has_more

    # -- staff ---------------------------------------------------------------------------------

    async def approve(
        self, session: AsyncSession, auth: AuthSubject, payout_id: str
    ) -> PayoutObject:
        payout = await self._awaiting_review(session, payout_id, Action.approve)
        previous = {"review_status": payout.review_status}
        payout.review_status = "approved"
        payout.reviewed_by = auth.user_id
        payout.reviewed_at = utc_now()
        await disbursement_service.enqueue_send(session, PAYOUT, payout.disbursement_id)
        disbursement = await disbursement_service.get(session, payout.disbursement_id)
        await self._event(session, "payout.approved", payout, disbursement, previous=previous)
        await self._audit(
            session, AuditAction.payout_approved, payout, previous, {"review_status": "approved"}
        )
        return as_object(payout, disbursement)

    async def reject(
        self, session: AsyncSession, auth: AuthSubject, payout_id: str
    ) -> PayoutObject:
        payout = await self._awaiting_review(session, payout_id, Action.reject)
        payout.review_status = "rejected"
        payout.reviewed_by = auth.user_id
        payout.reviewed_at = utc_now()
        rejected = await self._cancel(session, payout, Action.reject, "rejected_by_platform")
        await self._audit(
            session,
            AuditAction.payout_rejected,
            payout,
            {"review_status": "awaiting"},
            {"review_status": "rejected", "status": str(payout.status)},
        )
        return rejected

    async def _audit(
        self,
        session: AsyncSession,
        action: AuditAction,
        payout: Payout,
        before: dict[str, Any] | None,
        after: PayoutObject | dict[str, Any] | None,
    ) -> None:
        await audit.record(
            session,
            action=action,
            target=("payout", payout.id),
            merchant_id=payout.merchant_id,
            livemode=payout.livemode,
            before=before,
            after=after,
        )

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

    def _move(self, payout: Payout, action: Action) -> str:
        """Apply `action`; returns the status before (for the event's `previous_attributes`)."""
        before = payout.status
        after = transition(before, action)
        if after is None:
            raise PayoutUnexpectedState(
                f"This payout is {payout.status}: it cannot be {_VERBS[action]}.", param="id"
            )
        payout.status = after
        return before

    async def _cancel(
        self, session: AsyncSession, payout: Payout, action: Action, reason: str
    ) -> PayoutObject:
        before = self._move(payout, action)
        payout.cancellation_reason = reason
        payout.canceled_at = utc_now()
        disbursement = await disbursement_service.cancel(
            session, payout.disbursement_id, payout.canceled_at
        )
        await self._release(session, payout)
        await self._event(
            session, "payout.canceled", payout, disbursement, previous={"status": before}
        )
        return as_object(payout, disbursement)

    async def _release(self, session: AsyncSession, payout: Payout) -> None:
        await disbursement_service.release(
            session, source=payout.id, reservation=payout.reserve_transaction_id
        )

    async def _event(
        self,
        session: AsyncSession,
        type: str,
        payout: Payout,
        disbursement: Disbursement | None,
        *,
        previous: dict[str, Any] | None = None,
    ) -> None:
        await session.flush()
        await event_service.record(
            session,
            merchant_id=payout.merchant_id,
            livemode=payout.livemode,
            type=type,
            snapshot=as_object(payout, disbursement).model_dump(mode="json"),
            previous_attributes=previous,
        )

    # -- the payout's part of its transfer (`mboa.disbursements.service.Owner`) ----------------

    async def lock(self, session: AsyncSession, source_id: str) -> Payout | None:
        return await PayoutRepository.from_session(session).get_for_update(source_id)

    async def outgoing(self, session: AsyncSession, disbursement: Disbursement) -> Outgoing | str:
        payout = await PayoutRepository.from_session(session).get(disbursement.source_id)
        assert payout is not None
        if payout.status == Status.pending and payout.review_status == "awaiting":
            return "awaiting_review"
        if payout.status not in (Status.pending, Status.in_transit):
            return str(payout.status)
        # The wallet is checked and the payout handed over once, before the first call.
        return Outgoing(
            description=payout.description or payout.id,
            hand_over=payout.status == Status.pending,
        )

    def hand_over_state(self, row: Payout) -> bool | None:
        if row.status == Status.in_transit:
            return None
        return transition(row.status, Action.send) is not None

    async def hand_over(
        self, session: AsyncSession, row: Payout, disbursement: Disbursement
    ) -> None:
        """`pending` → `in_transit`, in its own commit before any transfer call: from then on
        nothing can cancel the payout."""
        before = self._move(row, Action.send)
        await self._event(session, "payout.updated", row, disbursement, previous={"status": before})

    async def succeeded(
        self, session: AsyncSession, row: Payout, disbursement: Disbursement, now: dt.datetime
    ) -> None:
        before = self._move(row, Action.succeed)
        row.paid_at = now
        await disbursement_service.post(
            session,
            purpose=SourceType.payout,
            source=row.id,
            reservation=row.reserve_transaction_id,
            merchant_id=row.merchant_id,
            livemode=row.livemode,
            currency=row.currency,
            provider=row.provider,
            amount=row.amount,
        )
        await self._event(session, "payout.paid", row, disbursement, previous={"status": before})
        await self._notify(session, "payout.paid", row)

    async def failed(
        self,
        session: AsyncSession,
        row: Payout,
        disbursement: Disbursement,
        code: FailureCode | None,
        now: dt.datetime,
        *,
        inactive: bool = False,
    ) -> None:
        before = self._move(row, Action.fail)
        row.failure_code, row.failure_message = INACTIVE if inactive else _failure(code)
        row.failed_at = now
        await self._release(session, row)
        await self._event(session, "payout.failed", row, disbursement, previous={"status": before})
        await self._notify(session, "payout.failed", row)

    async def saved_wallets(
        self, session: AsyncSession, tenant: TenantContext
    ) -> Sequence[tuple[str, str, str]]:
        """The wallets the merchant's payouts went to (the Settings page offers them)."""
        return await PayoutRepository.from_session(session).destinations(
            merchant_id=tenant.merchant_id, livemode=tenant.livemode
        )

    async def _notify(self, session: AsyncSession, kind: str, row: Payout) -> None:
        """An e-mail to the members who want it, in this transaction (docs/dashboard.md)."""
        await mail.notify_members(
            session,
            kind=kind,
            merchant_id=row.merchant_id,
            livemode=row.livemode,
            subject=f"Mboa Pay: {kind} {row.id}",
            data={
                "payout": row.id,
                "amount": row.amount,
                "currency": row.currency,
                "phone": row.phone_masked,
                "failure_code": row.failure_code,
            },
        )

    # -- worker entry points (the tasks and the tests call these) ------------------------------

    async def sync(
        self,
        db: Database,
        providers: ProviderRegistry,
        disbursement_id: str,
        *,
        settings: PayoutsSettings,
        recheck: bool = False,
    ) -> str:
        return await disbursement_service.sync(
            db, providers, disbursement_id, owner=self, settings=settings, recheck=recheck
        )

    async def due(self, db: Database, settings: PayoutsSettings) -> int:
        """Enqueue a status read for every transfer still in transit whose check is due."""
        return await disbursement_service.due(db, PAYOUT, settings)


_VERBS = {
    Action.approve: "approved",
    Action.reject: "rejected",
    Action.cancel: "canceled",
    Action.send: "sent",
    Action.fail: "marked failed",
    Action.succeed: "marked paid",
}

payout = PayoutService()
