"""The dashboard's money pages (docs/dashboard.md, "Payouts, balance, customers, reports"):
payouts (list, detail, request), balance transactions with the running balance, customers and
the CSV exports. A payout is requested through the API's own service (`payouts.service.create`:
its checks, limits, reservation and staff-review threshold); the balance and its transactions
come from the ledger's service; this module adds what the pages gather around them."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject
from mboa.config import PayoutsSettings
from mboa.dashboard.exceptions import PageNotFound
from mboa.dashboard.money_repository import ExportReads, MoneyRepository, SavedWallet
from mboa.dashboard.repository import PaymentFilters
from mboa.dashboard.service import PAGE_SIZE, PaymentsPage, TimelineItem, dashboard
from mboa.events.repository import EventFilters
from mboa.events.service import event as event_service
from mboa.kit.pagination import ListParams
from mboa.ledger.schemas import BalanceTransaction
from mboa.ledger.service import ledger
from mboa.models import Customer, Payout
from mboa.payouts.schemas import DestinationCreate, PayoutCreate
from mboa.payouts.schemas import Payout as PayoutObject
from mboa.payouts.service import payout as payout_service
from mboa.providers.phone import resolve_provider
from mboa.web.formatting import CAMEROON_TIME

DOUALA = ZoneInfo(CAMEROON_TIME)
EXPORT_BATCH = 2000
"""Rows per cursor fetch and per chunk of the CSV response."""

EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "payments": (
        "id",
        "created",
        "amount",
        "currency",
        "status",
        "operator",
        "phone",
        "reference",
        "customer",
        "amount_received",
        "fee",
        "net",
        "amount_refunded",
        "succeeded_at",
    ),
    "refunds": (
        "id",
        "created",
        "amount",
        "currency",
        "status",
        "payment_intent",
        "operator",
        "phone",
        "reason",
        "succeeded_at",
        "failed_at",
    ),
    "payouts": (
        "id",
        "created",
        "amount",
        "currency",
        "status",
        "review_status",
        "operator",
        "phone",
        "description",
        "paid_at",
        "failure_code",
    ),
    "balance_transactions": (
        "id",
        "created",
        "type",
        "amount",
        "fee",
        "net",
        "currency",
        "source",
        "description",
    ),
}
EXPORT_PERMISSIONS = {
    "payments": "payment_intents:read",
    "refunds": "refunds:read",
    "payouts": "payouts:read",
    "balance_transactions": "balance:read",
}


@dataclasses.dataclass(frozen=True, slots=True)
class PayoutsPage:
    rows: list[Payout]
    next_after: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class PayoutDetail:
    payout: PayoutObject
    timeline: list[TimelineItem]


@dataclasses.dataclass(frozen=True, slots=True)
class PayoutDraft:
    """A payout request read from the form, checked as the API checks a body's shape."""

    amount: int
    phone: str
    phone_masked: str
    provider: str
    description: str | None
    wallet: str | None
    """The saved wallet chosen (a payout id), else None (a new number)."""


@dataclasses.dataclass(frozen=True, slots=True)
class BalanceRow:
    transaction: BalanceTransaction
    running: int
    """The available balance right after this transaction."""


@dataclasses.dataclass(frozen=True, slots=True)
class BalancePage:
    available: int
    pending: int
    rows: list[BalanceRow]
    next_after: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class CustomersPage:
    rows: list[Customer]
    next_after: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerDetail:
    customer: Customer
    payments: PaymentsPage


def iso(value: dt.datetime | None) -> str:
    """ISO-8601 in Cameroon time (`2026-12-04T23:00:00.123456+01:00`)."""
    return value.astimezone(DOUALA).isoformat() if value is not None else ""


def _csv_row(kind: str) -> Callable[[Any], list[Any]]:
    if kind == "payments":
        return lambda r: [
            r[0],
            iso(r[1]),
            r[2],
            r[3],
            r[4],
            r[5] or "",
            r[6] or "",
            r[7] or "",
            r[8] or "",
            r[9],
            r[10],
            r[11],
            r[12],
            iso(r[13]),
        ]
    if kind == "refunds":
        return lambda r: [*r[:1], iso(r[1]), *r[2:9], iso(r[9]), iso(r[10])]
    if kind == "payouts":
        return lambda r: [*r[:1], iso(r[1]), *r[2:9], iso(r[9]), r[10] or ""]
    return lambda r: [r[0], iso(r[1]), r[2], r[3] or 0, r[4] or 0, r[5], r[6].strip(), *r[7:9]]


class MoneyService:
    # -- payouts -------------------------------------------------------------------------------

    async def payouts(
        self, session: AsyncSession, *, status: str | None, after: str | None
    ) -> PayoutsPage:
        rows = await MoneyRepository.from_session(session).payouts_page(
            status=status, after=after, limit=PAGE_SIZE
        )
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return PayoutsPage(rows, rows[-1].id if more and rows else None)

    async def payout_detail(self, session: AsyncSession, payout_id: str) -> PayoutDetail:
        """The payout and its timeline: requested, review, the transfer, events, ledger."""
        repository = MoneyRepository.from_session(session)
        row = await repository.payout(payout_id)
        if row is None:
            raise PageNotFound(f"No such payout: '{payout_id}'", param="id")
        shown = await payout_service.retrieve(session, payout_id)
        items = [TimelineItem(row.created_at, "requested", {"amount": row.amount})]
        if row.review_status != "not_required":
            items.append(
                TimelineItem(
                    row.reviewed_at or row.created_at,
                    "review",
                    {"review_status": row.review_status},
                )
            )
        transfer = await repository.disbursement(row.disbursement_id)
        if transfer is not None and transfer.sent_at is not None:
            items.append(
                TimelineItem(
                    transfer.sent_at,
                    "attempt",
                    {
                        "provider": transfer.provider,
                        "status": transfer.status,
                        "operator_reference": transfer.operator_reference,
                        "operator_transaction_id": transfer.operator_transaction_id,
                        "failure_code": transfer.failure_code,
                        "status_checks": transfer.status_checks,
                    },
                )
            )
        found, _ = await event_service.list(
            session, ListParams(limit=100), EventFilters(object_id=row.id)
        )
        for event, _pending in found:
            items.append(
                TimelineItem(event.created_at, "event", {"id": event.id, "type": event.type})
            )
        views, _ = await ledger.list_balance_transactions(
            session, ListParams(limit=100), source=row.id
        )
        for view in views:
            bt = BalanceTransaction.of(view)
            items.append(
                TimelineItem(
                    view.transaction.created_at,
                    "ledger",
                    {"id": bt.id, "type": bt.type, "amount": bt.amount, "net": bt.net},
                )
            )
        items.sort(key=lambda item: item.at)
        return PayoutDetail(shown, items)

    async def saved_wallets(self, session: AsyncSession) -> list[SavedWallet]:
        return await MoneyRepository.from_session(session).saved_wallets()

    async def draft(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        *,
        amount: int,
        wallet: str | None,
        phone: str | None,
        description: str | None,
    ) -> PayoutDraft:
        """The request's wallet (a saved one, or a new number with its operator detected as
        the API detects it) and amount, before the confirmation. The balance and limits are
        checked by `create` itself (the API's service) when the member confirms."""
        if wallet:
            saved = await MoneyRepository.from_session(session).payout(wallet)
            if saved is None:
                raise PageNotFound(f"No such payout: '{wallet}'", param="wallet")
            phone = saved.phone
        number, provider = resolve_provider(
            phone or "",
            None,
            param="destination[phone]",
            allow_sandbox=not auth.tenant.livemode,
        )
        return PayoutDraft(
            amount=amount,
            phone=number.e164,
            phone_masked=number.masked,
            provider=provider.value,
            description=description or None,
            wallet=wallet or None,
        )

    async def request_payout(
        self,
        session: AsyncSession,
        auth: AuthSubject,
        draft: PayoutDraft,
        settings: PayoutsSettings,
    ) -> PayoutObject:
        """`POST /v1/payouts`'s service: the available balance, limits, reservation and the
        staff-review threshold are the API's."""
        body = PayoutCreate(
            amount=draft.amount,
            currency="XAF",
            destination=DestinationCreate(phone=draft.phone),
            description=draft.description,
        )
        return await payout_service.create(session, auth, body, settings)

    # -- balance -------------------------------------------------------------------------------

    async def balance(self, session: AsyncSession, *, after: str | None) -> BalancePage:
        """Balance transactions newest first, each with the available balance after it: the
        current available balance, less the available nets of everything newer."""
        balances = await ledger.merchant_balances(session)
        xaf = next((b for b in balances if b.currency == "XAF"), None)
        available = xaf.available if xaf else 0
        views, more = await ledger.list_balance_transactions(
            session, ListParams(limit=PAGE_SIZE, starting_after=after)
        )
        running = available
        if views:
            first = views[0].transaction.id
            # Everything newer than the page's first row (none on the first page).
            running -= await MoneyRepository.from_session(session).available_net_newer(first)
        rows: list[BalanceRow] = []
        for view in views:
            shown = BalanceTransaction.of(view)
            rows.append(BalanceRow(shown, running))
            if shown.status == "available" and shown.currency == "XAF":
                running -= shown.net
        return BalancePage(
            available, xaf.pending if xaf else 0, rows, rows[-1].transaction.id if more else None
        )

    # -- customers -----------------------------------------------------------------------------

    async def customers(
        self, session: AsyncSession, *, search: str, after: str | None
    ) -> CustomersPage:
        rows = await MoneyRepository.from_session(session).customers_page(
            search=search, after=after, limit=PAGE_SIZE
        )
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return CustomersPage(rows, rows[-1].id if more and rows else None)

    async def customer(
        self, session: AsyncSession, customer_id: str, *, after: str | None
    ) -> CustomerDetail:
        found = await MoneyRepository.from_session(session).customer(customer_id)
        if found is None:
            raise PageNotFound(f"No such customer: '{customer_id}'", param="id")
        payments = await dashboard.payments(
            session, PaymentFilters(customer_id=customer_id), after=after
        )
        return CustomerDetail(found, payments)

    # -- exports -------------------------------------------------------------------------------

    async def export_count(
        self, reads: ExportReads, kind: str, start: dt.datetime, end: dt.datetime
    ) -> int:
        return await reads.count(kind, start, end)

    async def export_csv(
        self, reads: ExportReads, kind: str, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[bytes]:
        """The CSV, a header then one chunk per cursor batch (never the whole export in
        memory). Amounts are integers with a currency column; times ISO-8601 in Douala."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(EXPORT_COLUMNS[kind])
        yield buffer.getvalue().encode()
        shape = _csv_row(kind)
        async for batch in reads.batches(kind, start, end, EXPORT_BATCH):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(shape(row) for row in batch)
            yield buffer.getvalue().encode()


def export_range(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Cameroon days `start`..`end` (both included) as the instants [from, to)."""

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, tzinfo=DOUALA)

    return midnight(start), midnight(end + dt.timedelta(days=1))


def export_kinds() -> Sequence[str]:
    return tuple(EXPORT_COLUMNS)


money = MoneyService()
