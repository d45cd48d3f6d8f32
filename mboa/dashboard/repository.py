"""The dashboard's reads: the home page's figures, the payments list (filters, search, keyset
pages) and what a payment's timeline gathers that no API list gives. Row-level security scopes
every statement to the signed-in member's merchant and mode."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import Self

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.models import Customer, PaymentAttempt, PaymentIntent, WebhookAttempt, WebhookDelivery
from mboa.postgres import TenantContext
from mboa.web.formatting import CAMEROON_TIME


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentFilters:
    """The payments page's filters, already read from the query string."""

    status: str | None = None
    provider: str | None = None
    created_from: dt.datetime | None = None
    created_before: dt.datetime | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    intent_id: str | None = None
    customer_id: str | None = None
    phone_part: str | None = None
    text_part: str | None = None
    """Any part of a reference, or of a customer's name or email."""


LIST_SETTINGS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('max_parallel_workers_per_gather', '0', true)"
)
"""For the list's transaction: planned for its values, never a generic plan (a generic plan of
`id < $1 … LIMIT` or of `ILIKE $1` cannot see how selective it is and may walk or sort a third
of the table), and no parallel workers (their start-up is most of a 26-row page's time on a busy
host). docs/benchmarks.md, "Dashboard"."""
ID_MARGIN = dt.timedelta(minutes=1)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def id_floor(prefix: str, at: dt.datetime) -> str:
    """The smallest id (`prefix_` + ULID) made at `at`: ids sort by their creation time."""
    value = int(at.timestamp() * 1000) << 80
    return prefix + "_" + "".join(_CROCKFORD[(value >> s) & 31] for s in range(125, -1, -5))


_DIGIT_RUNS = re.compile(r"\d{3,}")


def reference_match(part: str) -> ColumnElement[bool]:
    """A reference containing `part`, any case. With a run of digits in `part` the trigram
    index looks up that run alone (references often share a prefix, "order-", whose trigrams
    are in every row: 50-110 ms of GIN on a million payments, the digits' well under 1 ms) and
    the whole pattern is checked on those rows only (docs/benchmarks.md, "Dashboard")."""
    runs = _DIGIT_RUNS.findall(part)
    longest = max(runs, key=len) if runs else None
    if longest is None or longest == part:
        return PaymentIntent.reference.ilike(like_pattern(part))
    return and_(
        PaymentIntent.reference.like(like_pattern(longest)),
        func.lower(PaymentIntent.reference).like(like_pattern(part.lower())),
    )


def like_pattern(part: str) -> str:
    """`%part%` with LIKE's own characters taken literally."""
    escaped = part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class DashboardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> Self:
        return cls(session)

    # -- home ----------------------------------------------------------------------------------

    async def volume_since(self, since: dt.datetime) -> tuple[int, int]:
        """How many payments succeeded since `since`, and what they received."""
        row = (
            await self.session.execute(
                select(func.count(), func.coalesce(func.sum(PaymentIntent.amount_received), 0))
                .where(PaymentIntent.succeeded_at.is_not(None))
                .where(PaymentIntent.succeeded_at >= since)
            )
        ).one()
        return int(row[0]), int(row[1])

    async def daily_volume(self, since: dt.datetime) -> list[tuple[dt.date, int, int]]:
        """(Cameroon day, amount received, count) of the days since `since` that had payments."""
        day = func.date(func.timezone(CAMEROON_TIME, PaymentIntent.succeeded_at))
        rows = await self.session.execute(
            select(day, func.sum(PaymentIntent.amount_received), func.count())
            .where(PaymentIntent.succeeded_at.is_not(None))
            .where(PaymentIntent.succeeded_at >= since)
            .group_by(day)
            .order_by(day)
        )
        return [(r[0], int(r[1]), int(r[2])) for r in rows.all()]

    async def operator_outcomes(self, since: dt.datetime) -> list[tuple[str, int, int]]:
        """(operator, attempts succeeded, attempts finished) since `since`."""
        succeeded = func.sum(case((PaymentAttempt.status == "succeeded", 1), else_=0))
        rows = await self.session.execute(
            select(PaymentAttempt.provider, succeeded, func.count())
            .where(PaymentAttempt.created_at >= since)
            .where(PaymentAttempt.status.in_(("succeeded", "failed")))
            .group_by(PaymentAttempt.provider)
            .order_by(PaymentAttempt.provider)
        )
        return [(r[0], int(r[1]), int(r[2])) for r in rows.all()]

    # -- payments ------------------------------------------------------------------------------

    async def customers_matching(self, part: str, limit: int = 50) -> list[str]:
        statement = (
            select(Customer.id)
            .where(
                or_(
                    Customer.name.ilike(like_pattern(part)),
                    Customer.email.ilike(like_pattern(part)),
                )
            )
            .order_by(Customer.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    def payments_statement(
        self, filters: PaymentFilters, customer_ids: Sequence[str] = ()
    ) -> Select[PaymentIntent]:
        statement = select(PaymentIntent)
        for column, value in (
            (PaymentIntent.status, filters.status),
            (PaymentIntent.provider, filters.provider),
            (PaymentIntent.id, filters.intent_id),
            (PaymentIntent.customer_id, filters.customer_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        # Ids are ULIDs of their creation time: the date range also bounds the id, so the
        # keyset indexes (tenant, [status,] id) read only the range (docs/benchmarks.md,
        # "Dashboard"). The bounds are a minute wider; `created_at` decides.
        if filters.created_from is not None:
            statement = statement.where(
                PaymentIntent.created_at >= filters.created_from,
                PaymentIntent.id >= id_floor("pi", filters.created_from - ID_MARGIN),
            )
        if filters.created_before is not None:
            statement = statement.where(
                PaymentIntent.created_at < filters.created_before,
                PaymentIntent.id < id_floor("pi", filters.created_before + ID_MARGIN),
            )
        if filters.amount_min is not None:
            statement = statement.where(PaymentIntent.amount >= filters.amount_min)
        if filters.amount_max is not None:
            statement = statement.where(PaymentIntent.amount <= filters.amount_max)
        # One search box: a number may be part of a phone or of a reference; words, part of a
        # reference or of a customer's name or email. Any of them matches (a BitmapOr of the
        # trigram indexes).
        matches: list[ColumnElement[bool]] = []
        if filters.phone_part is not None:
            matches.append(PaymentIntent.phone.like(like_pattern(filters.phone_part)))
        if filters.text_part is not None:
            matches.append(reference_match(filters.text_part))
        if customer_ids:
            matches.append(PaymentIntent.customer_id.in_(customer_ids))
        if matches:
            statement = statement.where(or_(*matches))
        return statement

    async def payments_page(
        self,
        filters: PaymentFilters,
        *,
        after: str | None,
        limit: int,
        customer_ids: Sequence[str] = (),
        search: AsyncSession | None = None,
        tenant: TenantContext | None = None,
    ) -> list[PaymentIntent]:
        """Newest first, `limit + 1` rows after the cursor `after` (keyset: ids sort by time).

        A search (part of a reference or phone) finds its ids on `search`, a platform-role
        session, with the tenant stated in the statement: under row-level security the
        policy's checks run before any operator that is not leakproof (ILIKE is not), so the
        trigram indexes could not be used and the search walked every payment (1 s on a
        million, docs/benchmarks.md "Dashboard"). The rows themselves are then read here,
        under row-level security, by id."""
        if search is not None and tenant is not None and self.is_search(filters, customer_ids):
            found = self.page_statement(
                filters, after=after, limit=limit, customer_ids=customer_ids, tenant=tenant
            ).with_only_columns(PaymentIntent.id)
            await search.execute(LIST_SETTINGS)
            ids = list((await search.execute(found)).scalars())
            if not ids:
                return []
            rows = await self.session.execute(
                select(PaymentIntent)
                .where(PaymentIntent.id.in_(ids))
                .order_by(PaymentIntent.id.desc())
            )
            return list(rows.scalars())
        statement = self.page_statement(
            filters, after=after, limit=limit, customer_ids=customer_ids
        )
        await self.session.execute(LIST_SETTINGS)
        return list((await self.session.execute(statement)).scalars())

    @staticmethod
    def is_search(filters: PaymentFilters, customer_ids: Sequence[str] = ()) -> bool:
        return filters.phone_part is not None or filters.text_part is not None or bool(customer_ids)

    def page_statement(
        self,
        filters: PaymentFilters,
        *,
        after: str | None,
        limit: int,
        customer_ids: Sequence[str] = (),
        tenant: TenantContext | None = None,
    ) -> Select[PaymentIntent]:
        """The page's statement (`make bench-dashboard` EXPLAINs exactly this); `tenant`: stated
        in the statement, for a platform-role session (no row-level security)."""
        statement = self.payments_statement(filters, customer_ids)
        if tenant is not None:
            statement = statement.where(
                PaymentIntent.merchant_id == tenant.merchant_id,
                PaymentIntent.livemode == tenant.livemode,
            )
        if after is not None:
            statement = statement.where(PaymentIntent.id < after)
        return statement.order_by(PaymentIntent.id.desc()).limit(limit + 1)

    async def intent(self, intent_id: str) -> PaymentIntent | None:
        return await self.session.get(PaymentIntent, intent_id)

    async def attempts(self, intent_id: str) -> Sequence[PaymentAttempt]:
        statement = (
            select(PaymentAttempt)
            .where(PaymentAttempt.payment_intent_id == intent_id)
            .order_by(PaymentAttempt.id)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def deliveries_of(
        self, event_ids: Sequence[str]
    ) -> list[tuple[WebhookDelivery, int | None]]:
        """Each webhook delivery of these events, with its latest attempt's HTTP status."""
        if not event_ids:
            return []
        latest = (
            select(WebhookAttempt.http_status)
            .where(WebhookAttempt.delivery_id == WebhookDelivery.id)
            .order_by(WebhookAttempt.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = await self.session.execute(
            select(WebhookDelivery, latest)
            .where(and_(WebhookDelivery.event_id.in_(event_ids)))
            .order_by(WebhookDelivery.id)
        )
        return [(r[0], r[1]) for r in rows.all()]
