"""Operator reports that contradict what we hold as final (docs/disbursements.md,
"Discrepancies"). Money that moved on a mobile-money wallet is final: we never re-post on such a
report. Each one is written durably for support and reconciliation, counted in
`mboa_operator_discrepancies_total{provider,kind}` and logged at error level."""

from __future__ import annotations

import enum

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.discrepancies.metrics import OPERATOR_DISCREPANCIES
from mboa.discrepancies.repository import OperatorDiscrepancyRepository
from mboa.kit.ids import Prefix, new_id
from mboa.kit.time import utc_now
from mboa.providers.types import TransactionResult, TransactionStatus

log = structlog.get_logger("mboa.discrepancies")


class Kind(enum.StrEnum):
    failed_after_success = "failed_after_success"
    succeeded_after_failure = "succeeded_after_failure"
    amount_mismatch = "amount_mismatch"


def contradiction(our_status: str, reported: TransactionStatus) -> Kind | None:
    """What a final answer says against our final status, if anything (`our_status` is
    `succeeded` or `failed`; a pending report contradicts nothing yet)."""
    if our_status == "succeeded" and reported is TransactionStatus.failed:
        return Kind.failed_after_success
    if our_status == "failed" and reported is TransactionStatus.succeeded:
        return Kind.succeeded_after_failure
    return None


def amount_differs(result: TransactionResult, amount: int, currency: str) -> bool:
    return (result.amount is not None and result.amount != amount) or (
        result.currency is not None and result.currency != currency
    )


class DiscrepancyService:
    async def record(
        self,
        session: AsyncSession,
        *,
        kind: Kind,
        merchant_id: str,
        livemode: bool,
        provider: str,
        object_id: str,
        transfer_id: str,
        operator_reference: str | None,
        our_status: str,
        our_amount: int,
        result: TransactionResult,
    ) -> bool:
        """Write the report in the caller's transaction; True the first time it is seen."""
        now = utc_now()
        recorded = await OperatorDiscrepancyRepository.from_session(session).record(
            {
                "id": new_id(Prefix.operator_discrepancy),
                "merchant_id": merchant_id,
                "livemode": livemode,
                "created_at": now,
                "kind": kind.value,
                "provider": provider,
                "object_id": object_id,
                "transfer_id": transfer_id,
                "operator_reference": operator_reference,
                "our_status": our_status,
                "our_amount": our_amount,
                "reported_status": result.status.value,
                "reported_amount": result.amount,
                "reported_raw_status": (result.raw_status or "")[:100] or None,
                "reported_at": now,
            }
        )
        if recorded:
            # Counted once per report, as stored: a repeat of the same report is not news.
            OPERATOR_DISCREPANCIES.labels(provider=provider, kind=kind.value).inc()
            log.error(
                "operator_discrepancy",
                kind=kind.value,
                provider=provider,
                object_id=object_id,
                transfer_id=transfer_id,
                our_status=our_status,
                our_amount=our_amount,
                reported_status=result.status.value,
                reported_amount=result.amount,
                reported_currency=result.currency,
            )
        return recorded


discrepancy = DiscrepancyService()
