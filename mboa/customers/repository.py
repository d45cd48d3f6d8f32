from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import Select, select

from mboa.kit.pagination import CreatedRange
from mboa.kit.repository import RepositoryBase
from mboa.models import Customer


class CustomerRepository(RepositoryBase[Customer]):
    model = Customer

    def list_statement(
        self, *, email: str | None = None, created: CreatedRange | None = None
    ) -> Select[Customer]:
        # Row-level security already limits rows to the request's merchant and mode.
        statement = select(Customer).where(Customer.deleted_at.is_(None))
        if email is not None:
            statement = statement.where(Customer.email == email.lower())
        if created is not None:
            statement = statement.where(*created.clauses(Customer.created_at))
        return statement

    async def get_live(self, customer_id: str, *, for_update: bool = False) -> Customer | None:
        # A primary-key get is the cheapest read SQLAlchemy offers (the hot path of the API).
        customer = await self.session.get(Customer, customer_id, with_for_update=for_update)
        if customer is None or customer.deleted_at is not None:
            return None
        return customer


class CustomerReads:
    """The read path (`mboa.postgres`): prepared statements on the request's read-only transaction,
    under the same row-level security as the session. Rows use the ORM's attribute names."""

    _GET = (
        "SELECT id, livemode, created_at, metadata AS metadata_, name, email, phone, description"
        " FROM customers WHERE id = $1 AND deleted_at IS NULL"
    )

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def get_live(self, customer_id: str) -> dict[str, Any] | None:
        row = await self.connection.fetchrow(self._GET, customer_id)
        return dict(row) if row is not None else None
