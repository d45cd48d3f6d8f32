from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.customers.schemas import Customer, CustomerCreate, CustomerUpdate, DeletedCustomer
from mboa.customers.service import customer as customer_service
from mboa.kit.openapi import error_responses, list_response
from mboa.kit.pagination import CreatedRange, ListParams, created_range, list_params
from mboa.kit.schemas import ListObject, json_response
from mboa.routing import ApiRoute, ReadsDep, SessionDep

router = APIRouter(prefix="/customers", tags=["Customers"], route_class=ApiRoute)

CustomersRead = Annotated[AuthSubject, Depends(ApiKeyAuth("customers:read"))]
CustomersWrite = Annotated[AuthSubject, Depends(ApiKeyAuth("customers:write"))]


@router.post("", response_model=Customer, responses=error_responses(400, 401, 403, 409, 429))
async def create_customer(
    auth: CustomersWrite,
    session: SessionDep,
    body: Annotated[CustomerCreate | None, Body()] = None,
) -> Customer:
    """Create a customer in the key's merchant and mode."""
    created = await customer_service.create(session, auth, body or CustomerCreate())
    return Customer.model_validate(created)


@router.get("", response_model=ListObject[Customer], responses=error_responses(400, 401, 403, 429))
async def list_customers(
    request: Request,
    auth: CustomersRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    created: Annotated[CreatedRange, Depends(created_range)],
    email: Annotated[str | None, Query(max_length=320)] = None,
) -> ListObject[Customer]:
    """List customers, newest first."""
    rows, has_more = await customer_service.list(session, params, email=email, created=created)
    return list_response(request, rows, has_more, Customer.model_validate)


@router.get(
    "/{customer_id}", response_model=Customer, responses=error_responses(401, 403, 404, 429)
)
async def retrieve_customer(customer_id: str, auth: CustomersRead, reads: ReadsDep) -> Response:
    """Retrieve a customer."""
    return json_response(
        Customer.model_validate(await customer_service.retrieve(reads, customer_id))
    )


@router.post("/{customer_id}", response_model=Customer, responses=error_responses())
async def update_customer(
    customer_id: str,
    auth: CustomersWrite,
    session: SessionDep,
    body: Annotated[CustomerUpdate | None, Body()] = None,
) -> Customer:
    """Update a customer: only the fields sent change; an empty metadata value removes that key."""
    updated = await customer_service.update(session, customer_id, body or CustomerUpdate())
    return Customer.model_validate(updated)


@router.delete(
    "/{customer_id}", response_model=DeletedCustomer, responses=error_responses(401, 403, 404, 429)
)
async def delete_customer(
    customer_id: str, auth: CustomersWrite, session: SessionDep
) -> DeletedCustomer:
    """Delete a customer."""
    deleted = await customer_service.delete(session, customer_id)
    return DeletedCustomer(id=deleted.id)
