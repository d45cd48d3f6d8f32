from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from mboa.auth.dependencies import ApiKeyAuth
from mboa.auth.subject import AuthSubject
from mboa.kit.openapi import error_responses
from mboa.receipts.service import PDF
from mboa.receipts.service import receipt as receipt_service
from mboa.routing import ApiRoute, SessionDep
from mboa.state import get_state

router = APIRouter(prefix="/payment_intents", tags=["Payment intents"], route_class=ApiRoute)

PaymentsRead = Annotated[AuthSubject, Depends(ApiKeyAuth("payment_intents:read"))]


@router.get(
    "/{intent_id}/receipt",
    response_class=Response,
    responses={
        200: {
            "description": "The receipt (PDF).",
            "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(400, 401, 403, 404, 409, 429),
    },
)
async def retrieve_receipt(
    request: Request,
    intent_id: str,
    auth: PaymentsRead,
    session: SessionDep,
    locale: Annotated[Literal["fr", "en"] | None, Query()] = None,
) -> Response:
    """The PDF receipt of a succeeded payment intent: the merchant (and logo), the amount, the
    operator and its transaction id, the payer's masked number, the payment id and reference,
    the date in Cameroon time. `locale` is `fr` or `en` (default: the checkout session's
    language, else French). Built on the first request and kept in storage; a payment that has
    not succeeded has none (409 `receipt_unavailable`)."""
    receipt, data = await receipt_service.pdf(
        session, get_state(request).storage, intent_id=intent_id, locale=locale
    )
    return Response(
        data,
        media_type=PDF,
        headers={"content-disposition": f'inline; filename="{receipt.filename}"'},
    )
