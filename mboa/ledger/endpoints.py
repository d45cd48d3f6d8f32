"""Merchant-facing ledger reads: GET /v1/balance and /v1/balance_transactions (read-only).

Row-level security scopes every query to the key's merchant and mode; platform accounts have no
merchant and are never visible here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.kit.openapi import error_responses, list_response
from mboa.kit.pagination import CreatedRange, ListParams, created_range, list_params
from mboa.kit.schemas import ListObject
from mboa.ledger.posting import BalanceTransactionType
from mboa.ledger.schemas import Balance, BalanceTransaction
from mboa.ledger.service import ledger
from mboa.routing import ApiRoute, SessionDep

router = APIRouter(tags=["Balance"], route_class=ApiRoute)

BalanceRead = Annotated[AuthSubject, Depends(ApiKeyAuth("balance:read"))]


@router.get("/balance", response_model=Balance, responses=error_responses(401, 403, 429))
async def retrieve_balance(auth: BalanceRead, session: SessionDep) -> Balance:
    """The balance of the key's mode: available (can be paid out), pending (collected, not yet
    settled) and reserved (payouts and refunds in flight), per currency."""
    return Balance.of(auth.livemode, await ledger.merchant_balances(session))


@router.get(
    "/balance_transactions",
    response_model=ListObject[BalanceTransaction],
    responses=error_responses(400, 401, 403, 429),
)
async def list_balance_transactions(
    request: Request,
    auth: BalanceRead,
    session: SessionDep,
    params: Annotated[ListParams, Depends(list_params)],
    created: Annotated[CreatedRange, Depends(created_range)],
    type: Annotated[BalanceTransactionType | None, Query()] = None,
    source: Annotated[str | None, Query(max_length=64, description="e.g. pi_…")] = None,
) -> ListObject[BalanceTransaction]:
    """Balance transactions, newest first, filtered by type, source and creation time."""
    rows, has_more = await ledger.list_balance_transactions(
        session,
        params,
        type_=type,
        source=source,
        created=created,
    )
    return list_response(request, rows, has_more, BalanceTransaction.of)


@router.get(
    "/balance_transactions/{transaction_id}",
    response_model=BalanceTransaction,
    responses=error_responses(401, 403, 404, 429),
)
async def retrieve_balance_transaction(
    transaction_id: str, auth: BalanceRead, session: SessionDep
) -> BalanceTransaction:
    """Retrieve a balance transaction."""
    return BalanceTransaction.of(await ledger.get_balance_transaction(session, transaction_id))
