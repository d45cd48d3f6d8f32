from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from mboa.auth.subject import AuthSubject
from mboa.customers.exceptions import CustomerNotFound
from mboa.customers.repository import CustomerReads, CustomerRepository
from mboa.customers.schemas import CustomerCreate, CustomerUpdate
from mboa.kit.ids import Prefix, new_id
from mboa.kit.pagination import CreatedRange, ListParams
from mboa.kit.schemas import merge_metadata
from mboa.kit.time import utc_now
from mboa.models import Customer
from mboa.providers.phone import normalise_phone


class CustomerService:
    async def create(
        self, session: AsyncSession, auth: AuthSubject, body: CustomerCreate
    ) -> Customer:
        customer = Customer(
            id=new_id(Prefix.customer),
            merchant_id=auth.tenant.merchant_id,
            livemode=auth.tenant.livemode,
            name=body.name,
            email=body.email.lower() if body.email else None,
            phone=normalise_phone(body.phone) if body.phone else None,
            description=body.description,
            metadata_=body.metadata or {},
            created_at=utc_now(),
        )
        return await CustomerRepository.from_session(session).add(customer)

    async def get(
        self, session: AsyncSession, customer_id: str, *, for_update: bool = False
    ) -> Customer:
        customer = await CustomerRepository.from_session(session).get_live(
            customer_id, for_update=for_update
        )
        if customer is None:
            raise CustomerNotFound(f"No such customer: '{customer_id}'", param="id")
        return customer

    async def retrieve(self, reads: asyncpg.Connection, customer_id: str) -> dict[str, Any]:
        """`get` on the read path: the same row, without the ORM (the API's hottest read)."""
        found = await CustomerReads(reads).get_live(customer_id)
        if found is None:
            raise CustomerNotFound(f"No such customer: '{customer_id}'", param="id")
        return found

    async def update(
        self, session: AsyncSession, customer_id: str, body: CustomerUpdate
    ) -> Customer:
        customer = await self.get(session, customer_id, for_update=True)
        fields = body.model_fields_set
        if "name" in fields:
            customer.name = body.name
        if "email" in fields:
            customer.email = body.email.lower() if body.email else None
        if "phone" in fields:
            customer.phone = normalise_phone(body.phone) if body.phone else None
        if "description" in fields:
            customer.description = body.description
        customer.metadata_ = merge_metadata(customer.metadata_, body.metadata)
        await session.flush()
        return customer

    async def delete(self, session: AsyncSession, customer_id: str) -> Customer:
        customer = await self.get(session, customer_id, for_update=True)
        customer.deleted_at = utc_now()
        await session.flush()
        return customer

    async def list(
        self,
        session: AsyncSession,
        params: ListParams,
        *,
        email: str | None,
        created: CreatedRange | None = None,
    ) -> tuple[Sequence[Customer], bool]:
        repository = CustomerRepository.from_session(session)
        statement = repository.list_statement(email=email, created=created)
        return await repository.paginate(statement, params)


customer = CustomerService()
