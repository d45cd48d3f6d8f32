"""Disbursements: every transfer of ours from an operator float to a wallet, whoever asked for
it (docs/disbursements.md). Payouts and refunds are both one; this service owns what they share:
the row with our operator reference (stored before any call), the operator call, the status
reads with backoff, the callback sync, the apply step's locking and idempotency, and the ledger's
reserve → post / release steps. What differs — the owner's statuses, rules and events — is the
owner's (`Owner`, implemented by `mboa.payouts.service` and `mboa.refunds.service`).

Lock order, everywhere: the owner's row (payout, refund), then the disbursement. Cancel and the
staff review lock the payout first too, so two paths never wait on each other in a cycle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.disbursements.repository import DisbursementRepository
from mboa.discrepancies.service import Kind as DiscrepancyKind
from mboa.discrepancies.service import amount_differs, contradiction
from mboa.discrepancies.service import discrepancy as discrepancy_service
from mboa.kit.faults import crash_point
from mboa.kit.ids import Prefix, new_id
from mboa.kit.time import next_status_check, utc_now
from mboa.ledger.accounts import AccountKind, merchant_account, platform_account
from mboa.ledger.posting import Leg, PostingResult, SourceType
from mboa.ledger.service import ledger
from mboa.models import Disbursement
from mboa.postgres import Database
from mboa.providers.errors import (
    InvalidRequest,
    ProviderConfigurationError,
    ProviderError,
    ProviderRejected,
    UnsupportedCapability,
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
from mboa.worker import enqueue

if TYPE_CHECKING:
    from mboa.providers.base import PaymentProvider
    from mboa.providers.registry import ProviderRegistry

log = structlog.get_logger("mboa.disbursements")


@dataclasses.dataclass(frozen=True, slots=True)
class Kind:
    """Who a disbursement is for: the owner's `source_type`, the id prefix of its transfers and
    the names of its tasks. The tasks keep the owner's names and queues, so jobs already in the
    outbox or in BullMQ when this code ships still find their handler."""

    source_type: str
    prefix: str
    send_task: str
    sync_task: str


PAYOUT = Kind("payout", Prefix.disbursement, "payouts.send", "payouts.sync_disbursement")
REFUND = Kind("refund", Prefix.refund_disbursement, "refunds.send", "refunds.sync_disbursement")
KINDS = (PAYOUT, REFUND)


def kind_of(transfer_id: str) -> Kind | None:
    """The kind named by a transfer id's prefix (`dsb_…`, `rdsb_…`), e.g. on a callback path."""
    for kind in KINDS:
        if transfer_id.startswith(f"{kind.prefix}_"):
            return kind
    return None


class StatusChecks(Protocol):
    """The settings a kind's status reads follow (`MBOA_PAYOUTS__…`, `MBOA_REFUNDS__…`)."""

    @property
    def status_check_after_seconds(self) -> float: ...
    @property
    def status_check_max_interval_seconds(self) -> float: ...
    @property
    def janitor_batch(self) -> int: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """What the owner says before a transfer is sent: its description at the operator, and
    whether the wallet must be checked and the owner handed over first (payouts)."""

    description: str
    hand_over: bool


class Owner(Protocol):
    """What a payout or a refund adds to its transfer."""

    @property
    def kind(self) -> Kind: ...

    async def lock(self, session: AsyncSession, source_id: str) -> Any | None:
        """The owner's row, locked."""

    async def outgoing(self, session: AsyncSession, disbursement: Disbursement) -> Outgoing | str:
        """May the transfer be sent now? An `Outgoing`, or the reason it is not sent."""

    def hand_over_state(self, row: Any) -> bool | None:
        """True: hand over now; None: handed over already; False: no longer ours to send."""

    async def hand_over(self, session: AsyncSession, row: Any, disbursement: Disbursement) -> None:
        """The owner's move before the operator call (payouts: `pending` → `in_transit`)."""

    async def succeeded(
        self, session: AsyncSession, row: Any, disbursement: Disbursement, now: dt.datetime
    ) -> None:
        """The operator confirmed the transfer: the owner's transition, ledger post, event."""

    async def failed(
        self,
        session: AsyncSession,
        row: Any,
        disbursement: Disbursement,
        code: FailureCode | None,
        now: dt.datetime,
        *,
        inactive: bool = False,
    ) -> None:
        """The transfer failed (`inactive`: our account-holder check refused the wallet before
        any call): the owner's transition, ledger release, event."""


def _require(result: PostingResult, what: str) -> None:
    if not result.ok:
        raise RuntimeError(f"the ledger refused {what}: {result.outcome}")


class DisbursementService:
    # -- creation (in the owner's create transaction) ------------------------------------------

    def new(
        self,
        kind: Kind,
        *,
        merchant_id: str,
        livemode: bool,
        now: dt.datetime,
        source_id: str,
        provider: ProviderName,
        phone: str,
        amount: int,
        currency: str,
        check_at: dt.datetime | None,
    ) -> Disbursement:
        """A transfer row with **our** operator reference: MTN's is a UUID v4 of ours, stored now,
        before any call; Orange's payToken comes from `cashin/init` and the worker stores it
        before `cashin/pay`. `check_at`: the first status read, for a transfer handed to the
        worker at once (a refund); a payout sets it when it is handed over."""
        return Disbursement(
            id=new_id(kind.prefix),
            merchant_id=merchant_id,
            livemode=livemode,
            created_at=now,
            source_type=kind.source_type,
            source_id=source_id,
            provider=provider.value,
            phone=phone,
            amount=amount,
            currency=currency,
            status="pending",
            operator_reference=str(uuid.uuid4()) if provider is ProviderName.mtn_momo else None,
            next_check_at=check_at,
            status_checks=0,
        )

    async def enqueue_send(self, session: AsyncSession, kind: Kind, disbursement_id: str) -> None:
        await enqueue(
            session,
            kind.send_task,
            {"disbursement_id": disbursement_id},
            job_id=f"{kind.send_task}:{disbursement_id}",
        )

    async def get(self, session: AsyncSession, disbursement_id: str) -> Disbursement | None:
        return await DisbursementRepository.from_session(session).get(disbursement_id)

    async def get_many(self, session: AsyncSession, ids: list[str]) -> dict[str, Disbursement]:
        return await DisbursementRepository.from_session(session).of_ids(ids)

    async def cancel(
        self, session: AsyncSession, disbursement_id: str, now: dt.datetime
    ) -> Disbursement:
        """A transfer that was never sent and never will be (a payout canceled or rejected)."""
        disbursement = await DisbursementRepository.from_session(session).get_for_update(
            disbursement_id
        )
        assert disbursement is not None
        disbursement.status = "canceled"
        disbursement.finished_at = now
        return disbursement

    # -- the ledger's steps (keys built from the owner's id, so a retried task replays them) ---

    async def reserve(
        self,
        session: AsyncSession,
        *,
        purpose: SourceType,
        source: str,
        merchant_id: str,
        livemode: bool,
        amount: int,
        currency: str,
    ) -> PostingResult:
        """Hold `amount` of the merchant's available balance until the operator's final answer,
        however late (no expiry). A refusal is returned: the owner names the error."""
        return await ledger.reserve(
            session,
            merchant_id=merchant_id,
            livemode=livemode,
            amount=amount,
            currency=currency,
            purpose=purpose,
            source=source,
            idempotency_key=f"{source}:reserve",
            expires_at=None,
        )

    async def post(
        self,
        session: AsyncSession,
        *,
        purpose: SourceType,
        source: str,
        reservation: str,
        merchant_id: str,
        livemode: bool,
        currency: str,
        provider: str,
        amount: int,
        fee_returned: int = 0,
    ) -> None:
        """The reservation is posted (available → reserved), then the money leaves for the
        operator float, where the operator took it from: the merchant's part from reserved and a
        returned fee (refunds) from fee revenue (docs/ledger.md, "Service API")."""
        posted = await ledger.post_pending(session, reservation, idempotency_key=f"{source}:post")
        _require(posted, f"the posting of {source}")
        legs = [
            Leg(
                merchant_account(merchant_id, livemode, currency, AccountKind.reserved),
                -(amount - fee_returned),
            ),
            Leg(platform_account(AccountKind.operator_float, livemode, currency, provider), amount),
        ]
        if fee_returned:
            legs.append(
                Leg(platform_account(AccountKind.fee_revenue, livemode, currency), -fee_returned)
            )
        moved = await ledger.transfer(
            session,
            idempotency_key=f"{source}:float",
            legs=legs,
            type=purpose,
            currency=currency,
            livemode=livemode,
            merchant_id=merchant_id,
            source=source,
        )
        _require(moved, f"the transfer of {source} to the operator float")

    async def release(self, session: AsyncSession, *, source: str, reservation: str) -> None:
        voided = await ledger.void(session, reservation, idempotency_key=f"{source}:release")
        _require(voided, f"the release of {source}")

    # -- worker ----------------------------------------------------------------------------------

    async def send(
        self,
        db: Database,
        providers: ProviderRegistry,
        callback_base: str,
        disbursement_id: str,
        *,
        owner: Owner,
        settings: StatusChecks,
        final_try: bool,
    ) -> str:
        """Send the transfer with the reference stored for it (Orange's is minted and committed
        first); a retry sends the same reference again. An owner that hands over first (a
        payout) checks the wallet and commits that move before any transfer call. No
        transaction is held open during an operator call."""
        async with db.platform_transaction() as session:
            disbursement = await DisbursementRepository.from_session(session).get(disbursement_id)
            if disbursement is None:
                return "missing"
            if disbursement.status != "pending" or disbursement.sent_at is not None:
                return "already_sent"
            outgoing = await owner.outgoing(session, disbursement)
            if isinstance(outgoing, str):
                return outgoing
            provider_name = ProviderName(disbursement.provider)
            phone, amount, currency = disbursement.phone, disbursement.amount, disbursement.currency
            reference = disbursement.operator_reference
        provider = providers.get(provider_name)
        if outgoing.hand_over:
            active = await self._holder_active(provider, phone, disbursement_id, final_try)
            async with db.platform_transaction() as session:
                if not await self._hand_over(session, owner, disbursement_id, active, settings):
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
            description=outgoing.description[:160],
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
            # The money may be on its way: never decide on a guess. The transfer stays pending
            # and the status reads find the operator's answer.
            log.warning(
                "disbursement_outcome_unknown",
                disbursement_id=disbursement_id,
                source_type=owner.kind.source_type,
                error=str(exc),
            )
            async with db.platform_transaction() as session:
                await DisbursementRepository.from_session(session).schedule_check(
                    disbursement_id,
                    utc_now() + dt.timedelta(seconds=settings.status_check_after_seconds),
                )
            return "unknown"
        async with db.platform_transaction() as session:
            await self.apply_result(
                session, disbursement_id, result, owner=owner, settings=settings, sent=True
            )
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
                "disbursement_holder_check_failed", disbursement_id=disbursement_id, error=str(exc)
            )
            return None

    async def _hand_over(
        self,
        session: AsyncSession,
        owner: Owner,
        disbursement_id: str,
        active: bool | None,
        settings: StatusChecks,
    ) -> bool:
        """The owner's move before the call, or its failure when the wallet is not active.
        False when the transfer is no longer ours to send (canceled meanwhile)."""
        row, disbursement = await self._lock(session, owner, disbursement_id)
        assert row is not None
        assert disbursement is not None
        state = owner.hand_over_state(row)
        if state is None:
            return True
        if not state:
            return False
        now = utc_now()
        if active is False:
            disbursement.status = "failed"
            disbursement.failure_code = FailureCode.payee_not_found.value
            disbursement.raw_reason = "account_holder_inactive"
            disbursement.finished_at = now
            await owner.failed(
                session, row, disbursement, FailureCode.payee_not_found, now, inactive=True
            )
            return False
        disbursement.next_check_at = now + dt.timedelta(seconds=settings.status_check_after_seconds)
        await owner.hand_over(session, row, disbursement)
        return True

    async def _lock(
        self, session: AsyncSession, owner: Owner, disbursement_id: str
    ) -> tuple[Any | None, Disbursement | None]:
        """Lock the owner's row, then the disbursement (the module's lock order)."""
        disbursements = DisbursementRepository.from_session(session)
        source_id = await disbursements.source_of(disbursement_id)
        if source_id is None:
            return None, None
        row = await owner.lock(session, source_id)
        return row, await disbursements.get_for_update(disbursement_id)

    async def sync(
        self,
        db: Database,
        providers: ProviderRegistry,
        disbursement_id: str,
        *,
        owner: Owner,
        settings: StatusChecks,
        recheck: bool = False,
    ) -> str:
        """Read the operator's status of one transfer with our own reference and apply it
        (callbacks and the status reads both end here). Idempotent. `recheck` (an operator
        callback): a transfer already final is read again, and an answer that contradicts it is
        recorded as a discrepancy, never applied."""
        async with db.platform_transaction() as session:
            disbursements = DisbursementRepository.from_session(session)
            disbursement = await disbursements.get(disbursement_id)
            if disbursement is None:
                return "missing"
            final = disbursement.status != "pending"
            if final and not (
                recheck
                and disbursement.status in ("succeeded", "failed")
                and disbursement.operator_reference is not None
            ):
                return disbursement.status
            if not final and (
                disbursement.sent_at is None or disbursement.operator_reference is None
            ):
                # Handed over but never answered (a crash, an unknown outcome): send again with
                # the same reference; the adapter turns a repeat into a status read.
                await enqueue(
                    session,
                    owner.kind.send_task,
                    {"disbursement_id": disbursement_id},
                    job_id=f"{owner.kind.send_task}:{disbursement_id}:{disbursement.status_checks}",
                )
                await disbursements.schedule_check(
                    disbursement_id, self._next_check(settings, disbursement.status_checks)
                )
                return "resent"
            assert disbursement.operator_reference is not None
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
            await self.apply_result(
                session, disbursement_id, result, owner=owner, settings=settings, recheck=recheck
            )
            if not final and not result.status.is_final:
                await DisbursementRepository.from_session(session).schedule_check(
                    disbursement_id, self._next_check(settings, checks)
                )
        return result.status.value

    def _next_check(self, settings: StatusChecks, checks: int) -> dt.datetime:
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
        owner: Owner,
        settings: StatusChecks,
        sent: bool = False,
        recheck: bool = False,
    ) -> bool:
        """Apply the operator's answer for one transfer in the caller's transaction: the
        disbursement, then the owner's transition, ledger step and event. Returns False when
        nothing changed (a duplicate or late confirmation; with `recheck`, a contradicting one
        is recorded as a discrepancy)."""
        row, disbursement = await self._lock(session, owner, disbursement_id)
        if row is None or disbursement is None:
            return False
        if disbursement.status != "pending":
            if recheck:
                await self._contradicted(session, disbursement, result)
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
            # The wallet received what the operator moved: our amount stays posted, the
            # difference goes to review (docs/disbursements.md, "Discrepancies").
            await self._amount_checked(session, disbursement, result)
            await owner.succeeded(session, row, disbursement, now)
        else:
            disbursement.status = "failed"
            disbursement.failure_code = (result.failure_code or FailureCode.unknown).value
            await owner.failed(session, row, disbursement, result.failure_code, now)
        await session.flush()
        crash_point("before_commit")
        log.info(
            "disbursement_final",
            source_type=disbursement.source_type,
            source_id=disbursement.source_id,
            disbursement_id=disbursement.id,
            status=disbursement.status,
        )
        return True

    async def _contradicted(
        self, session: AsyncSession, disbursement: Disbursement, result: TransactionResult
    ) -> None:
        kind = contradiction(disbursement.status, result.status)
        if kind is not None:
            await self._record(session, kind, disbursement, result)
        elif disbursement.status == "succeeded":
            await self._amount_checked(session, disbursement, result)

    async def _amount_checked(
        self, session: AsyncSession, disbursement: Disbursement, result: TransactionResult
    ) -> None:
        if amount_differs(result, disbursement.amount, disbursement.currency):
            await self._record(session, DiscrepancyKind.amount_mismatch, disbursement, result)

    async def _record(
        self,
        session: AsyncSession,
        kind: DiscrepancyKind,
        disbursement: Disbursement,
        result: TransactionResult,
    ) -> None:
        await discrepancy_service.record(
            session,
            kind=kind,
            merchant_id=disbursement.merchant_id,
            livemode=disbursement.livemode,
            provider=disbursement.provider,
            object_id=disbursement.source_id,
            transfer_id=disbursement.id,
            operator_reference=disbursement.operator_reference,
            our_status=disbursement.status,
            our_amount=disbursement.amount,
            result=result,
        )

    async def due(self, db: Database, kind: Kind, settings: StatusChecks) -> int:
        """Enqueue a status read for every transfer of `kind` still pending whose check is due."""
        now = utc_now()
        async with db.platform_transaction() as session:
            disbursements = DisbursementRepository.from_session(session)
            due = await disbursements.due_for_check(now, settings.janitor_batch, kind.source_type)
            for disbursement_id in due:
                # One read per transfer and due time; the read reschedules the next one.
                await disbursements.schedule_check(
                    disbursement_id,
                    now + dt.timedelta(seconds=settings.status_check_max_interval_seconds),
                )
                await enqueue(
                    session,
                    kind.sync_task,
                    {"disbursement_id": disbursement_id},
                    job_id=f"{kind.sync_task}:{disbursement_id}:{int(now.timestamp())}",
                )
        return len(due)


disbursement = DisbursementService()
