"""`/v1/refunds`.

Creating a refund writes the ledger (the reservation), whose write functions only the platform
role may run: that route runs as the platform role (`LedgerWriteRoute`, as the payouts' create)
and the service states the caller's merchant and mode on every row it reads or writes. Reads
stay on the tenant role under row-level security.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.kit.openapi import error_responses
from mboa.kit.pagination import CreatedRange, ListParams, created_range, list_params
from mboa.kit.schemas import ListObject
from mboa.refunds.schemas import Refund, RefundCreate
from mboa.refunds.service import refund as refund_service
from mboa.refunds.states import Status
from mboa.routing import ApiRoute, LedgerWriteRoute, SessionDep

router = APIRouter(prefix="/refunds", tags=["Refunds"], route_class=ApiRoute)
writes = APIRouter(prefix="/refunds", tags=["Refunds"], route_class=LedgerWriteRoute)

RefundsRead = Annotated[AuthSubject, Depends(ApiKeyAuth("refunds:read"))]
RefundsWrite = Annotated[AuthSubject, Depends(ApiKeyAuth("refunds:write"))]


@writes.post("", response_model=Refund, responses=error_responses(400, 401, 403, 404, 409, 429))
async def create_refund(auth: RefundsWrite, session: SessionDep, body: RefundCreate) -> Refund:
    """Give money back to the payer of a payment intent, to the wallet that paid. Without
    `amount`, the rest of what was received; several partial refunds may follow each other. The
    merchant's part is reserved at once (from the available balance, else from the payment's
    own pending funds); a refund the balance cannot cover is refused. The transfer follows."""
    return await refund_service.create(session, auth, body)


@router.get("", response_model=ListObject[Refund], responses=error_responses(400, 401, 403, 429))
async def list_refunds(
    request: Request,
    auth: RefundsRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    created: Annotated[CreatedRange, Depends(created_range)],
    payment_intent: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[Status | None, Query()] = None,
) -> ListObject[Refund]:
    """List refunds, newest first; filter by `payment_intent`, `status`, `created`."""
    rows, has_more = await refund_service.list(
        session, params, payment_intent=payment_intent, status=status, created=created
    )
    return ListObject(url=request.url.path, has_more=has_more, data=list(rows))


@router.get("/{refund_id}", response_model=Refund, responses=error_responses(401, 403, 404, 429))
async def retrieve_refund(refund_id: str, auth: RefundsRead, session: SessionDep) -> Refund:
    """Retrieve a refund."""
    return await refund_service.retrieve(session, refund_id)
