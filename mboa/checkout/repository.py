"""All SQL of checkout sessions and payment links."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg
from sqlalchemy import Select, func, select, text, update

from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.models import CheckoutSession, Merchant, PaymentAttempt, PaymentIntent, PaymentLink
from mboa.postgres import TenantContext


class CheckoutSessionRepository(RepositoryBase[CheckoutSession]):
    model = CheckoutSession

    def list_statement(
        self,
        *,
        status: str | None,
        payment_intent: str | None,
        payment_link: str | None,
        created: CreatedRange | None,
    ) -> Select[CheckoutSession]:
        # Row-level security already limits rows to the request's merchant and mode.
        statement = select(CheckoutSession)
        if status is not None:
            statement = statement.where(CheckoutSession.status == status)
        if payment_intent is not None:
            statement = statement.where(CheckoutSession.payment_intent_id == payment_intent)
        if payment_link is not None:
            statement = statement.where(CheckoutSession.payment_link_id == payment_link)
        if created is not None:
            statement = statement.where(*created.clauses(CheckoutSession.created_at))
        return statement

    async def get_for_update(self, session_id: str) -> CheckoutSession | None:
        return await self.session.get(CheckoutSession, session_id, with_for_update=True)

    async def of_intent_for_update(
        self, merchant_id: str, livemode: bool, intent_id: str
    ) -> CheckoutSession | None:
        """The session of an intent (the worker's platform session: the tenant is stated)."""
        return await self.get_one_or_none(
            select(CheckoutSession)
            .where(
                CheckoutSession.merchant_id == merchant_id,
                CheckoutSession.livemode == livemode,
                CheckoutSession.payment_intent_id == intent_id,
            )
            .with_for_update()
        )

    async def expired_open_ids(self, now: dt.datetime, limit: int) -> list[str]:
        """Open sessions past their expiry, across merchants (the janitor, platform role)."""
        rows = await self.session.execute(
            select(CheckoutSession.id)
            .where(CheckoutSession.status == "open", CheckoutSession.expires_at <= now)
            .order_by(CheckoutSession.expires_at)
            .limit(limit)
        )
        return list(rows.scalars())

    async def set_customer_details(self, session_id: str, details: dict[str, str]) -> None:
        await self.session.execute(
            update(CheckoutSession)
            .where(CheckoutSession.id == session_id)
            .values(customer_details=details)
        )

    async def page_tenant(self, session_id: str, secret: str) -> TenantContext | None:
        """The merchant and mode of the session a page URL names, if its secret matches
        (`mboa_checkout_session_tenant`, a definer function: nothing else of the row)."""
        row = (
            await self.session.execute(
                text("SELECT merchant_id, livemode FROM mboa_checkout_session_tenant(:id, :s)"),
                {"id": session_id, "s": secret},
            )
        ).first()
        return TenantContext(row.merchant_id, row.livemode) if row is not None else None

    async def page(
        self, session_id: str
    ) -> tuple[CheckoutSession, PaymentIntent, PaymentAttempt | None, str] | None:
        """What the payment page shows, in one statement: the session, its intent, the latest
        attempt and the merchant's name (row-level security scopes all four)."""
        row = (
            await self.session.execute(
                select(CheckoutSession, PaymentIntent, PaymentAttempt, Merchant.name)
                .join(PaymentIntent, PaymentIntent.id == CheckoutSession.payment_intent_id)
                .join(Merchant, Merchant.id == CheckoutSession.merchant_id)
                .outerjoin(PaymentAttempt, PaymentAttempt.id == PaymentIntent.latest_attempt_id)
                .where(CheckoutSession.id == session_id)
            )
        ).first()
        if row is None:
            return None
        return row[0], row[1], row[2], row[3]

    async def intents_of_link(
        self, link_id: str, limit: int, starting_after: str | None
    ) -> tuple[Sequence[PaymentIntent], bool]:
        statement = (
            select(PaymentIntent)
            .join(CheckoutSession, CheckoutSession.payment_intent_id == PaymentIntent.id)
            .where(CheckoutSession.payment_link_id == link_id)
            .order_by(PaymentIntent.id.desc())
            .limit(limit + 1)
        )
        if starting_after is not None:
            statement = statement.where(PaymentIntent.id < starting_after)
        rows = list((await self.session.execute(statement)).scalars())
        return rows[:limit], len(rows) > limit

    async def latest_attempts(self, intents: Sequence[PaymentIntent]) -> dict[str, PaymentAttempt]:
        ids = [i.latest_attempt_id for i in intents if i.latest_attempt_id]
        if not ids:
            return {}
        rows = await self.session.execute(select(PaymentAttempt).where(PaymentAttempt.id.in_(ids)))
        return {a.id: a for a in rows.scalars()}


class PaymentLinkRepository(RepositoryBase[PaymentLink]):
    model = PaymentLink

    def list_statement(
        self, *, active: bool | None, created: CreatedRange | None
    ) -> Select[PaymentLink]:
        statement = select(PaymentLink)
        if active is not None:
            statement = statement.where(PaymentLink.active == active)
        if created is not None:
            statement = statement.where(*created.clauses(PaymentLink.created_at))
        return statement

    async def public_tenant(self, link_id: str) -> TenantContext | None:
        """The merchant and mode of a link (`mboa_payment_link_tenant`, a definer function)."""
        row = (
            await self.session.execute(
                text("SELECT merchant_id, livemode FROM mboa_payment_link_tenant(:id)"),
                {"id": link_id},
            )
        ).first()
        return TenantContext(row.merchant_id, row.livemode) if row is not None else None

    async def with_merchant_name(self, link_id: str) -> tuple[PaymentLink, str] | None:
        row = (
            await self.session.execute(
                select(PaymentLink, Merchant.name)
                .join(Merchant, Merchant.id == PaymentLink.merchant_id)
                .where(PaymentLink.id == link_id)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def session_count(self, link_id: str) -> int:
        count = await self.session.scalar(
            select(func.count()).where(CheckoutSession.payment_link_id == link_id)
        )
        return int(count or 0)


class PublicPageReads:
    """The public pages' GETs, one statement each on the read pool (`Database.public_reads`:
    the API role, no tenant, no transaction of its own): the definer functions of
    `checkout/sql/page.sql` return the one row a URL names, with its merchant's name, and
    nothing of any other row; the connection itself sees no merchant's rows."""

    _CHECKOUT_PAGE = "SELECT * FROM mboa_checkout_page($1, $2)"
    _LINK_PAGE = "SELECT * FROM mboa_payment_link_page($1)"

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def checkout_page(self, session_id: str, secret: str) -> asyncpg.Record | None:
        """The session, its intent's status and latest attempt, and its merchant's name, if the
        secret matches."""
        row: asyncpg.Record | None = await self.connection.fetchrow(
            self._CHECKOUT_PAGE, session_id, secret
        )
        return row

    async def payment_link(self, link_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.connection.fetchrow(self._LINK_PAGE, link_id)
        return row
