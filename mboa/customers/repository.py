from __future__ import annotations

from sqlalchemy import Select, select

from mboa.kit.repository import RepositoryBase
from mboa.models import Customer


class CustomerRepository(RepositoryBase[Customer]):
    model = Customer

    def list_statement(self, *, email: str | None = None) -> Select[Customer]:
        # Row-level security already limits rows to the request's merchant and mode.
        statement = select(Customer).where(Customer.deleted_at.is_(None))
        if email is not None:
            statement = statement.where(Customer.email == email.lower())
        return statement

    async def get_live(self, customer_id: str, *, for_update: bool = False) -> Customer | None:
        statement = self.list_statement().where(Customer.id == customer_id)
        if for_update:
            statement = statement.with_for_update()
        return await self.get_one_or_none(statement)
