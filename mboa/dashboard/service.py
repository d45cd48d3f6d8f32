"""What the dashboard's pages show, gathered through the domains' own services (balances from the
ledger, refunds from the refunds service, events from the events service) plus the dashboard's
reads (repository.py). Actions call the same services as the API with the member's
`AuthSubject`: the permissions and every business rule are the API's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject
from mboa.dashboard.exceptions import PageNotFound
from mboa.dashboard.repository import DashboardRepository, PaymentFilters
from mboa.events.repository import EventFilters
from mboa.events.service import event as event_service
from mboa.kit.pagination import ListParams
from mboa.kit.time import utc_now
from mboa.ledger.schemas import BalanceTransaction
from mboa.ledger.service import MerchantBalance, ledger
from mboa.models import Event, PaymentIntent
from mboa.postgres import TenantContext
from mboa.refunds.schemas import Refund, RefundCreate
from mboa.refunds.service import refund as refund_service

PAGE_SIZE = 25
CHART_DAYS = 30
_PHONE_LIKE = re.compile(r"\+?[\d\s.-]{3,20}")
_ID_PREFIXES = {"pi_": "intent_id", "cus_": "customer_id"}


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    count: int
    amount: int


@dataclasses.dataclass(frozen=True, slots=True)
class OperatorRate:
    provider: str
    succeeded: int
    finished: int

    @property
    def percent(self) -> int:
        return round(100 * self.succeeded / self.finished) if self.finished else 0


@dataclasses.dataclass(frozen=True, slots=True)
class Home:
    balance: MerchantBalance
    today: Period
    week: Period
    month: Period
    operators: list[OperatorRate]
    daily: list[tuple[dt.date, int, int]]
    """One entry per Cameroon day of the last 30, oldest first (days without payments: 0)."""


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentsPage:
    rows: list[PaymentIntent]
    next_after: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class TimelineItem:
    at: dt.datetime
    kind: str
    """`created`, `attempt`, `event`, `delivery`, `refund`, `ledger`."""
    data: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentDetail:
    intent: PaymentIntent
    refundable: int
    timeline: list[TimelineItem]
    refunds: list[Refund]


def search_filters(query: str) -> dict[str, str]:
    """What a search box entry means: an id (`pi_…`, `cus_…`); digits: part of a phone number
    or of a reference; anything else: part of a reference or of a customer's name or email."""
    query = query.strip()[:100]
    if not query:
        return {}
    for prefix, field in _ID_PREFIXES.items():
        if query.startswith(prefix) and " " not in query:
            return {field: query}
    if _PHONE_LIKE.fullmatch(query):
        digits = "".join(c for c in query if c.isdigit())
        if len(digits) >= 3:
            return {"phone_part": digits.removeprefix("00"), "text_part": query}
    return {"text_part": query}


class DashboardService:
    async def home(self, session: AsyncSession, auth: AuthSubject, *, today: dt.datetime) -> Home:
        """`today`: the start of the current Cameroon day, as an instant."""
        repository = DashboardRepository.from_session(session)
        balances = await ledger.merchant_balances(session)
        balance = next(
            (b for b in balances if b.currency == "XAF"), MerchantBalance("XAF", 0, 0, 0)
        )
        month_start = today - dt.timedelta(days=CHART_DAYS - 1)
        periods = [
            Period(*await repository.volume_since(since))
            for since in (today, today - dt.timedelta(days=6), month_start)
        ]
        known = {
            day: (amount, count)
            for day, amount, count in await repository.daily_volume(month_start)
        }
        first = (month_start + dt.timedelta(hours=12)).date()
        days = [first + dt.timedelta(days=n) for n in range(CHART_DAYS)]
        daily = [(day, *known.get(day, (0, 0))) for day in days]
        operators = [OperatorRate(*row) for row in await repository.operator_outcomes(month_start)]
        return Home(balance, periods[0], periods[1], periods[2], operators, daily)

    async def payments(
        self,
        session: AsyncSession,
        filters: PaymentFilters,
        *,
        after: str | None,
        search: AsyncSession | None = None,
        tenant: TenantContext | None = None,
    ) -> PaymentsPage:
        """`search` (a platform-role session) and `tenant`: where a search by part of a
        reference or phone finds its ids (`DashboardRepository.payments_page`)."""
        repository = DashboardRepository.from_session(session)
        customers: list[str] = []
        if filters.text_part is not None and filters.phone_part is None:
            customers = await repository.customers_matching(filters.text_part)
        rows = await repository.payments_page(
            filters,
            after=after,
            limit=PAGE_SIZE,
            customer_ids=customers,
            search=search,
            tenant=tenant,
        )
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return PaymentsPage(rows, rows[-1].id if more and rows else None)

    async def payment(self, session: AsyncSession, intent_id: str) -> PaymentIntent:
        intent = await DashboardRepository.from_session(session).intent(intent_id)
        if intent is None:
            raise PageNotFound(f"No such payment_intent: '{intent_id}'", param="id")
        return intent

    async def payment_detail(self, session: AsyncSession, intent_id: str) -> PaymentDetail:
        """The payment and everything that happened to it, oldest first."""
        intent = await self.payment(session, intent_id)
        repository = DashboardRepository.from_session(session)
        items = [TimelineItem(intent.created_at, "created", {"amount": intent.amount})]
        for attempt in await repository.attempts(intent.id):
            items.append(
                TimelineItem(
                    attempt.created_at,
                    "attempt",
                    {
                        "id": attempt.id,
                        "provider": attempt.provider,
                        "status": attempt.status,
                        "phone": attempt.phone_masked,
                        "operator_reference": attempt.operator_reference,
                        "operator_transaction_id": attempt.operator_transaction_id,
                        "failure_code": attempt.failure_code,
                        "finished_at": attempt.finished_at,
                    },
                )
            )
        refunds, _ = await refund_service.list(
            session, ListParams(limit=100), payment_intent=intent.id, status=None, created=None
        )
        object_ids = [intent.id, *(refund.id for refund in refunds)]
        events: list[Event] = []
        for object_id in object_ids:
            found, _ = await event_service.list(
                session, ListParams(limit=100), EventFilters(object_id=object_id)
            )
            events.extend(event for event, _pending in found)
        for found_event in events:
            items.append(
                TimelineItem(
                    found_event.created_at,
                    "event",
                    {"id": found_event.id, "type": found_event.type},
                )
            )
        for delivery, http_status in await repository.deliveries_of([e.id for e in events]):
            items.append(
                TimelineItem(
                    delivery.last_attempt_at or delivery.created_at,
                    "delivery",
                    {
                        "event_type": delivery.event_type,
                        "endpoint_id": delivery.endpoint_id,
                        "status": delivery.status,
                        "attempts": delivery.attempt_count,
                        "http_status": http_status,
                    },
                )
            )
        for refund in refunds:
            items.append(
                TimelineItem(
                    refund.created,
                    "refund",
                    {"id": refund.id, "amount": refund.amount, "status": refund.status.value},
                )
            )
        for source in object_ids:
            views, _ = await ledger.list_balance_transactions(
                session, ListParams(limit=100), source=source
            )
            for view in views:
                shown = BalanceTransaction.of(view)
                items.append(
                    TimelineItem(
                        view.transaction.created_at,
                        "ledger",
                        {
                            "id": shown.id,
                            "type": shown.type,
                            "amount": shown.amount,
                            "fee": shown.fee,
                            "net": shown.net,
                            "status": shown.status,
                        },
                    )
                )
        items.sort(key=lambda item: item.at)
        refundable = max(intent.amount_received - intent.amount_refunded, 0)
        return PaymentDetail(intent, refundable, items, list(refunds))

    async def refund(
        self, session: AsyncSession, auth: AuthSubject, intent_id: str, *, amount: int | None
    ) -> Refund:
        """The API's refund (`POST /v1/refunds`): the same service, checks and ledger."""
        body = RefundCreate(payment_intent=intent_id, amount=amount, reason="requested_by_customer")
        return await refund_service.create(session, auth, body)


def start_of_cameroon_day(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight in Douala (UTC+1, no daylight saving) as an instant."""
    now = now or utc_now()
    local = now + dt.timedelta(hours=1)
    return dt.datetime(local.year, local.month, local.day, tzinfo=dt.UTC) - dt.timedelta(hours=1)


dashboard = DashboardService()
