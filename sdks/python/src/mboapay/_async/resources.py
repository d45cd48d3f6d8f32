"""The API's resources, one class each (`client.payment_intents`, `client.refunds`, …).

Parameters are keyword arguments named as in the API reference (/docs); None means "not sent".
Every `create`/action takes `idempotency_key`: pass your own (an order id) to make a call safe to
repeat across restarts of your program; otherwise one is made per call, which covers retries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

import httpx

from .._base import query
from .._errors import error_from_response
from .._models import (
    Balance as BalanceObject,
)
from .._models import (
    BalanceTransaction,
    CheckoutSession,
    Customer,
    DeletedCustomer,
    DeletedWebhookEndpoint,
    EventObject,
    EventResendResult,
    PaymentIntent,
    PaymentLink,
    Payout,
    Refund,
    WebhookDelivery,
    WebhookEndpoint,
)
from .._params import AfterCompletion, CreatedRange, CustomAmount, PayoutDestination, Provider
from .pagination import AsyncListIterator

if TYPE_CHECKING:
    from .client import AsyncClient

Metadata = Mapping[str, str]
Created = int | CreatedRange


def _path(template: str, *ids: str) -> str:
    return template.format(*(quote(i, safe="") for i in ids))


class _Resource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client


class PaymentIntents(_Resource):
    """Requests for money, collected from a mobile-money wallet (docs/payments.md)."""

    async def create(
        self,
        *,
        amount: int,
        currency: str,
        phone: str | None = None,
        provider: Provider | None = None,
        reference: str | None = None,
        description: str | None = None,
        customer: str | None = None,
        expires_in: int | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> PaymentIntent:
        """With `phone`, the payer gets the USSD prompt at once (status `processing`)."""
        body = {
            "amount": amount,
            "currency": currency,
            "phone": phone,
            "provider": provider,
            "reference": reference,
            "description": description,
            "customer": customer,
            "expires_in": expires_in,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "POST", "/v1/payment_intents", body=body, idempotency_key=idempotency_key
        )
        return PaymentIntent.model_validate(answer)

    async def retrieve(self, intent_id: str) -> PaymentIntent:
        answer = await self._client.request("GET", _path("/v1/payment_intents/{}", intent_id))
        return PaymentIntent.model_validate(answer)

    async def receipt(self, intent_id: str, *, locale: Literal["fr", "en"] | None = None) -> bytes:
        """The PDF receipt of a succeeded payment intent, as bytes (`locale`: `fr` or `en`;
        default: the checkout session's language, else French). A payment that has not
        succeeded has none: `ConflictError` with code `receipt_unavailable` (409)."""
        return await self._client.request_bytes(
            "GET",
            _path("/v1/payment_intents/{}/receipt", intent_id),
            params={"locale": locale},
        )

    async def confirm(
        self,
        intent_id: str,
        *,
        phone: str | None = None,
        provider: Provider | None = None,
        idempotency_key: str | None = None,
    ) -> PaymentIntent:
        answer = await self._client.request(
            "POST",
            _path("/v1/payment_intents/{}/confirm", intent_id),
            body={"phone": phone, "provider": provider},
            idempotency_key=idempotency_key,
        )
        return PaymentIntent.model_validate(answer)

    async def cancel(
        self,
        intent_id: str,
        *,
        cancellation_reason: Literal[
            "requested_by_customer", "duplicate", "fraudulent", "abandoned"
        ]
        | None = None,
        idempotency_key: str | None = None,
    ) -> PaymentIntent:
        answer = await self._client.request(
            "POST",
            _path("/v1/payment_intents/{}/cancel", intent_id),
            body={"cancellation_reason": cancellation_reason},
            idempotency_key=idempotency_key,
        )
        return PaymentIntent.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
        status: str | None = None,
        provider: Provider | None = None,
        reference: str | None = None,
        customer: str | None = None,
        phone: str | None = None,
    ) -> AsyncListIterator[PaymentIntent]:
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
            "status": status,
            "provider": provider,
            "reference": reference,
            "customer": customer,
            "phone": phone,
        }
        return AsyncListIterator(self._client, "/v1/payment_intents", PaymentIntent, params)


class CheckoutSessions(_Resource):
    """Hosted payment pages (docs/checkout.md): send the payer to the session's `url`."""

    async def create(
        self,
        *,
        amount: int,
        currency: str,
        success_url: str,
        cancel_url: str | None = None,
        reference: str | None = None,
        description: str | None = None,
        customer: str | None = None,
        phone: str | None = None,
        locale: Literal["fr", "en", "auto"] | None = None,
        expires_in: int | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> CheckoutSession:
        body = {
            "amount": amount,
            "currency": currency,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "reference": reference,
            "description": description,
            "customer": customer,
            "phone": phone,
            "locale": locale,
            "expires_in": expires_in,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "POST", "/v1/checkout/sessions", body=body, idempotency_key=idempotency_key
        )
        return CheckoutSession.model_validate(answer)

    async def retrieve(self, session_id: str) -> CheckoutSession:
        answer = await self._client.request("GET", _path("/v1/checkout/sessions/{}", session_id))
        return CheckoutSession.model_validate(answer)

    async def expire(
        self, session_id: str, *, idempotency_key: str | None = None
    ) -> CheckoutSession:
        answer = await self._client.request(
            "POST",
            _path("/v1/checkout/sessions/{}/expire", session_id),
            idempotency_key=idempotency_key,
        )
        return CheckoutSession.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
        status: Literal["open", "complete", "expired"] | None = None,
        payment_intent: str | None = None,
        payment_link: str | None = None,
    ) -> AsyncListIterator[CheckoutSession]:
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
            "status": status,
            "payment_intent": payment_intent,
            "payment_link": payment_link,
        }
        return AsyncListIterator(self._client, "/v1/checkout/sessions", CheckoutSession, params)


class PaymentLinks(_Resource):
    """Reusable links (and QR codes) that open a checkout session per visit (docs/checkout.md)."""

    async def create(
        self,
        *,
        currency: str,
        amount: int | None = None,
        custom_amount: CustomAmount | None = None,
        description: str | None = None,
        fields: Sequence[Literal["name", "note"]] | None = None,
        active: bool | None = None,
        after_completion: AfterCompletion | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> PaymentLink:
        body = {
            "currency": currency,
            "amount": amount,
            "custom_amount": custom_amount,
            "description": description,
            "fields": fields,
            "active": active,
            "after_completion": after_completion,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "POST", "/v1/payment_links", body=body, idempotency_key=idempotency_key
        )
        return PaymentLink.model_validate(answer)

    async def retrieve(self, link_id: str) -> PaymentLink:
        answer = await self._client.request("GET", _path("/v1/payment_links/{}", link_id))
        return PaymentLink.model_validate(answer)

    async def update(
        self,
        link_id: str,
        *,
        active: bool | None = None,
        description: str | None = None,
        fields: Sequence[Literal["name", "note"]] | None = None,
        after_completion: AfterCompletion | None = None,
        metadata: Metadata | None = None,
    ) -> PaymentLink:
        body = {
            "active": active,
            "description": description,
            "fields": fields,
            "after_completion": after_completion,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "PATCH", _path("/v1/payment_links/{}", link_id), body=body
        )
        return PaymentLink.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
        active: bool | None = None,
    ) -> AsyncListIterator[PaymentLink]:
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
            "active": active,
        }
        return AsyncListIterator(self._client, "/v1/payment_links", PaymentLink, params)

    def list_payment_intents(
        self,
        link_id: str,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> AsyncListIterator[PaymentIntent]:
        """The payments made through the link."""
        params = {"limit": limit, "starting_after": starting_after, "ending_before": ending_before}
        path = _path("/v1/payment_links/{}/payment_intents", link_id)
        return AsyncListIterator(self._client, path, PaymentIntent, params)

    async def qr_svg(self, link_id: str) -> bytes:
        """The link's `url` as a QR code, an SVG document's bytes (for print)."""
        return await self._client.request_bytes(
            "GET", _path("/v1/payment_links/{}/qr.svg", link_id), accept="image/svg+xml"
        )

    async def qr_png(self, link_id: str) -> bytes:
        """The link's `url` as a QR code, a PNG image's bytes (8 pixels a module)."""
        return await self._client.request_bytes(
            "GET", _path("/v1/payment_links/{}/qr.png", link_id), accept="image/png"
        )


class Refunds(_Resource):
    """Money sent back to the payer's wallet (docs/refunds.md)."""

    async def create(
        self,
        *,
        payment_intent: str,
        amount: int | None = None,
        reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Without `amount`, refunds what is left of the payment."""
        body = {
            "payment_intent": payment_intent,
            "amount": amount,
            "reason": reason,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "POST", "/v1/refunds", body=body, idempotency_key=idempotency_key
        )
        return Refund.model_validate(answer)

    async def retrieve(self, refund_id: str) -> Refund:
        answer = await self._client.request("GET", _path("/v1/refunds/{}", refund_id))
        return Refund.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
        payment_intent: str | None = None,
        status: str | None = None,
    ) -> AsyncListIterator[Refund]:
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
            "payment_intent": payment_intent,
            "status": status,
        }
        return AsyncListIterator(self._client, "/v1/refunds", Refund, params)


class Payouts(_Resource):
    """Money from the available balance to the merchant's own wallet (docs/payouts.md)."""

    async def create(
        self,
        *,
        amount: int,
        currency: str,
        destination: PayoutDestination,
        description: str | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> Payout:
        body = {
            "amount": amount,
            "currency": currency,
            "destination": destination,
            "description": description,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "POST", "/v1/payouts", body=body, idempotency_key=idempotency_key
        )
        return Payout.model_validate(answer)

    async def retrieve(self, payout_id: str) -> Payout:
        answer = await self._client.request("GET", _path("/v1/payouts/{}", payout_id))
        return Payout.model_validate(answer)

    async def cancel(self, payout_id: str, *, idempotency_key: str | None = None) -> Payout:
        """Only while `pending`."""
        answer = await self._client.request(
            "POST", _path("/v1/payouts/{}/cancel", payout_id), idempotency_key=idempotency_key
        )
        return Payout.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
        status: str | None = None,
    ) -> AsyncListIterator[Payout]:
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
            "status": status,
        }
        return AsyncListIterator(self._client, "/v1/payouts", Payout, params)


class Customers(_Resource):
    async def create(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> Customer:
        body = {
            "name": name,
            "email": email,
            "phone": phone,
            "description": description,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "POST", "/v1/customers", body=body, idempotency_key=idempotency_key
        )
        return Customer.model_validate(answer)

    async def retrieve(self, customer_id: str) -> Customer:
        answer = await self._client.request("GET", _path("/v1/customers/{}", customer_id))
        return Customer.model_validate(answer)

    async def update(
        self,
        customer_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> Customer:
        """Only the fields given change (an empty `metadata` value removes that key)."""
        body = {
            "name": name,
            "email": email,
            "phone": phone,
            "description": description,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "POST",
            _path("/v1/customers/{}", customer_id),
            body=body,
            idempotency_key=idempotency_key,
        )
        return Customer.model_validate(answer)

    async def delete(self, customer_id: str) -> DeletedCustomer:
        answer = await self._client.request("DELETE", _path("/v1/customers/{}", customer_id))
        return DeletedCustomer.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
        email: str | None = None,
    ) -> AsyncListIterator[Customer]:
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
            "email": email,
        }
        return AsyncListIterator(self._client, "/v1/customers", Customer, params)


class Balance(_Resource):
    async def retrieve(self) -> BalanceObject:
        """`available` (can be paid out now), `pending` (not settled yet), `reserved`."""
        return BalanceObject.model_validate(await self._client.request("GET", "/v1/balance"))


class BalanceTransactions(_Resource):
    """Each movement of the balance, immutable (docs/ledger.md)."""

    async def retrieve(self, transaction_id: str) -> BalanceTransaction:
        answer = await self._client.request(
            "GET", _path("/v1/balance_transactions/{}", transaction_id)
        )
        return BalanceTransaction.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
        type: str | None = None,
        source: str | None = None,
    ) -> AsyncListIterator[BalanceTransaction]:
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
            "type": type,
            "source": source,
        }
        return AsyncListIterator(
            self._client, "/v1/balance_transactions", BalanceTransaction, params
        )


class Events(_Resource):
    """What happened to your objects (docs/events.md); webhooks deliver the same objects."""

    async def retrieve(self, event_id: str) -> EventObject:
        answer = await self._client.request("GET", _path("/v1/events/{}", event_id))
        return EventObject.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
        type: str | None = None,
        types: Sequence[str] | None = None,
        object_id: str | None = None,
        delivery_success: bool | None = None,
    ) -> AsyncListIterator[EventObject]:
        """`type` or `types` may be patterns: `payment_intent.*`, `*.failed`.
        `delivery_success=False`: only events with a webhook delivery that has not succeeded
        (pending or given up); `True`: only events whose every delivery succeeded."""
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
            "type": type,
            "types": types,
            "object_id": object_id,
            "delivery_success": delivery_success,
        }
        return AsyncListIterator(self._client, "/v1/events", EventObject, params)

    async def resend(
        self, event_id: str, *, endpoint: str | None = None, idempotency_key: str | None = None
    ) -> EventResendResult:
        answer = await self._client.request(
            "POST",
            _path("/v1/events/{}/resend", event_id),
            body={"endpoint": endpoint},
            idempotency_key=idempotency_key,
        )
        return EventResendResult.model_validate(answer)

    async def stream(
        self,
        *,
        type: str | None = None,
        types: Sequence[str] | None = None,
        last_event_id: str | None = None,
    ) -> AsyncIterator[EventObject]:
        """Test-mode events as they happen (server-sent events), from after `last_event_id`
        when given. Runs until you stop iterating; a dropped stream raises (resume with the
        last event's id)."""
        sent = dict(self._client._headers, Accept="text/event-stream")
        if last_event_id:
            sent["Last-Event-ID"] = last_event_id
        # Events may be minutes apart: no read timeout (the server sends heartbeats anyway).
        timeout = httpx.Timeout(self._client.timeout.connect, read=None)
        async with self._client._http.stream(
            "GET",
            self._client.base_url + "/v1/events/stream",
            params=query({"type": type, "types": types}),
            headers=sent,
            timeout=timeout,
        ) as response:
            if not response.is_success:
                await response.aread()
                raise error_from_response(response)
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:
                    yield EventObject.model_validate(json.loads("\n".join(data)))
                    data = []


class WebhookEndpoints(_Resource):
    """Where events are POSTed, signed per Standard Webhooks (docs/webhooks.md); verify them
    with `mboapay.webhooks.verify`."""

    async def create(
        self,
        *,
        url: str,
        enabled_events: Sequence[str],
        description: str | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookEndpoint:
        """The answer's `secret` (`whsec_…`) is shown here only: store it."""
        body = {
            "url": url,
            "enabled_events": enabled_events,
            "description": description,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "POST", "/v1/webhook_endpoints", body=body, idempotency_key=idempotency_key
        )
        return WebhookEndpoint.model_validate(answer)

    async def retrieve(self, endpoint_id: str) -> WebhookEndpoint:
        answer = await self._client.request("GET", _path("/v1/webhook_endpoints/{}", endpoint_id))
        return WebhookEndpoint.model_validate(answer)

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        enabled_events: Sequence[str] | None = None,
        description: str | None = None,
        status: Literal["enabled", "disabled"] | None = None,
        metadata: Metadata | None = None,
    ) -> WebhookEndpoint:
        body = {
            "url": url,
            "enabled_events": enabled_events,
            "description": description,
            "status": status,
            "metadata": metadata,
        }
        answer = await self._client.request(
            "PATCH", _path("/v1/webhook_endpoints/{}", endpoint_id), body=body
        )
        return WebhookEndpoint.model_validate(answer)

    async def delete(self, endpoint_id: str) -> DeletedWebhookEndpoint:
        answer = await self._client.request(
            "DELETE", _path("/v1/webhook_endpoints/{}", endpoint_id)
        )
        return DeletedWebhookEndpoint.model_validate(answer)

    async def roll_secret(
        self, endpoint_id: str, *, expires_in: int | None = None, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """A new secret; the old one keeps signing too for `expires_in` seconds."""
        answer = await self._client.request(
            "POST",
            _path("/v1/webhook_endpoints/{}/roll_secret", endpoint_id),
            body={"expires_in": expires_in},
            idempotency_key=idempotency_key,
        )
        return WebhookEndpoint.model_validate(answer)

    def list(
        self,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: Created | None = None,
    ) -> AsyncListIterator[WebhookEndpoint]:
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "created": created,
        }
        return AsyncListIterator(self._client, "/v1/webhook_endpoints", WebhookEndpoint, params)

    def list_deliveries(
        self,
        endpoint_id: str,
        *,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        event: str | None = None,
        outcome: str | None = None,
    ) -> AsyncListIterator[WebhookDelivery]:
        """The delivery log: each event sent to this endpoint and its attempts."""
        params = {
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "event": event,
            "outcome": outcome,
        }
        path = _path("/v1/webhook_endpoints/{}/deliveries", endpoint_id)
        return AsyncListIterator(self._client, path, WebhookDelivery, params)
