"""The dashboard's money reads (docs/dashboard.md, "Payouts, balance, customers, reports"): what
the payouts, balance, customers and reports pages need that no API list gives. Row-level
security scopes every statement to the signed-in member's merchant and mode, the exports' too
(they read on a tenant read connection)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any, Self

import asyncpg
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from mboa.dashboard.repository import ID_MARGIN, id_floor, like_pattern
from mboa.models import Customer, Disbursement, LedgerTransaction, Payout


@dataclasses.dataclass(frozen=True, slots=True)
class SavedWallet:
    payout_id: str
    """The latest payout to this wallet (the form names the wallet by it)."""
    phone: str
    phone_masked: str
    provider: str


class MoneyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> Self:
        return cls(session)

    # -- payouts -------------------------------------------------------------------------------

    async def payouts_page(
        self, *, status: str | None, after: str | None, limit: int
    ) -> list[Payout]:
        """Newest first, `limit + 1` rows after the cursor (keyset on the id)."""
        statement = select(Payout)
        if status is not None:
            statement = statement.where(Payout.status == status)
        if after is not None:
            statement = statement.where(Payout.id < after)
        statement = statement.order_by(Payout.id.desc()).limit(limit + 1)
        return list((await self.session.execute(statement)).scalars())

    async def payout(self, payout_id: str) -> Payout | None:
        return await self.session.get(Payout, payout_id)

    async def disbursement(self, disbursement_id: str) -> Disbursement | None:
        return await self.session.get(Disbursement, disbursement_id)

    async def saved_wallets(self, limit: int = 10) -> list[SavedWallet]:
        """The wallets earlier payouts went to, the most recently used first."""
        latest = func.max(Payout.id)
        rows = await self.session.execute(
            select(latest, Payout.phone, func.min(Payout.phone_masked), func.min(Payout.provider))
            .group_by(Payout.phone)
            .order_by(latest.desc())
            .limit(limit)
        )
        return [SavedWallet(r[0], r[1], r[2], r[3]) for r in rows.all()]

    # -- balance transactions ------------------------------------------------------------------

    async def available_net_newer(self, transaction_id: str) -> int:
        """The sum of the nets shown as `available` of the balance transactions newer than
        `transaction_id` (a pending collection's net is not on the available balance yet; the
        same rule as `ledger.service._status`)."""
        child = aliased(LedgerTransaction)
        closed = exists().where(
            and_(child.parent_id == LedgerTransaction.id, child.link.in_(("settle", "reverse")))
        )
        pending = and_(
            LedgerTransaction.available_on.is_not(None),
            func.coalesce(LedgerTransaction.net, 0) != 0,
            ~closed,
        )
        net = func.coalesce(
            LedgerTransaction.net,
            func.coalesce(LedgerTransaction.amount, 0) - func.coalesce(LedgerTransaction.fee, 0),
        )
        value = await self.session.scalar(
            select(func.coalesce(func.sum(net), 0)).where(
                LedgerTransaction.bt_type.is_not(None),
                LedgerTransaction.merchant_id.is_not(None),
                LedgerTransaction.currency == "XAF",
                LedgerTransaction.id > transaction_id,
                ~pending,
            )
        )
        return int(value or 0)

    # -- customers -----------------------------------------------------------------------------

    async def customers_page(self, *, search: str, after: str | None, limit: int) -> list[Customer]:
        """Customers newest first; `search` is an id, or part of a name, email or phone."""
        statement = select(Customer).where(Customer.deleted_at.is_(None))
        if search:
            if search.startswith("cus_") and " " not in search:
                statement = statement.where(Customer.id == search)
            else:
                pattern = like_pattern(search)
                digits = "".join(c for c in search if c.isdigit())
                matches = [Customer.name.ilike(pattern), Customer.email.ilike(pattern)]
                if len(digits) >= 3:
                    matches.append(Customer.phone.like(like_pattern(digits.removeprefix("00"))))
                statement = statement.where(or_(*matches))
        if after is not None:
            statement = statement.where(Customer.id < after)
        statement = statement.order_by(Customer.id.desc()).limit(limit + 1)
        return list((await self.session.execute(statement)).scalars())

    async def customer(self, customer_id: str) -> Customer | None:
        customer = await self.session.get(Customer, customer_id)
        return customer if customer is not None and customer.deleted_at is None else None


# -- exports: plain SQL on a tenant read connection (row-level security: its merchant and mode) --

EXPORT_QUERIES: dict[str, tuple[str, str]] = {
    "payments": (
        "payment_intents",
        "SELECT id, created_at, amount, currency, status, provider, phone, reference,"
        " customer_id, amount_received, fee, net, amount_refunded, succeeded_at"
        " FROM payment_intents",
    ),
    "refunds": (
        "refunds",
        "SELECT id, created_at, amount, currency, status, payment_intent_id, provider,"
        " phone_masked, reason, succeeded_at, failed_at FROM refunds",
    ),
    "payouts": (
        "payouts",
        "SELECT id, created_at, amount, currency, status, review_status, provider,"
        " phone_masked, description, paid_at, failure_code FROM payouts",
    ),
    "balance_transactions": (
        "ledger_transactions",
        "SELECT id, created_at, bt_type AS type, amount, fee,"
        " coalesce(net, coalesce(amount, 0) - coalesce(fee, 0)) AS net, currency, source,"
        " description FROM ledger_transactions",
    ),
}
"""What each export reads: oldest first in the range, ids sort by creation time."""


EXPORT_PREFIXES = {
    "payments": "pi",
    "refunds": "re",
    "payouts": "po",
    "balance_transactions": "txn",
}


def export_parameters(
    kind: str, start: dt.datetime, end: dt.datetime
) -> tuple[dt.datetime, dt.datetime, str, str]:
    """The range, and the ids that bound it (ids are ULIDs of their creation time: the keyset
    index reads only the range; `created_at` decides at the edges)."""
    prefix = EXPORT_PREFIXES[kind]
    return start, end, id_floor(prefix, start - ID_MARGIN), id_floor(prefix, end + ID_MARGIN)


def export_sql(kind: str) -> str:
    _table, select_sql = EXPORT_QUERIES[kind]
    where = " WHERE created_at >= $1 AND created_at < $2 AND id >= $3 AND id < $4"
    if kind == "balance_transactions":
        where += " AND bt_type IS NOT NULL AND merchant_id IS NOT NULL"
    return select_sql + where + " ORDER BY id"


def count_sql(kind: str) -> str:
    table, _select = EXPORT_QUERIES[kind]
    where = " WHERE created_at >= $1 AND created_at < $2 AND id >= $3 AND id < $4"
    if kind == "balance_transactions":
        where += " AND bt_type IS NOT NULL AND merchant_id IS NOT NULL"
    return f"SELECT count(*) FROM {table}" + where  # noqa: S608 - table from the fixed map


class ExportReads:
    """An export's rows through a server-side cursor, in batches: memory stays one batch."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def count(self, kind: str, start: dt.datetime, end: dt.datetime) -> int:
        return int(
            await self.connection.fetchval(count_sql(kind), *export_parameters(kind, start, end))
        )

    async def batches(
        self, kind: str, start: dt.datetime, end: dt.datetime, size: int
    ) -> AsyncIterator[Sequence[asyncpg.Record]]:
        """Needs the connection's transaction (a tenant read is one)."""
        cursor = await self.connection.cursor(
            export_sql(kind), *export_parameters(kind, start, end)
        )
        while True:
            rows: list[Any] = await cursor.fetch(size)
            if not rows:
                return
            yield rows
