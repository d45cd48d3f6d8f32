"""Raw Orange Money calls: omcoreapis (docs/providers-wire.md §2.2) and WebPay (§2.1)."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from mboa.providers._http import OperatorHttp, TokenCache
from mboa.providers.errors import MalformedResponse, ProviderAuthError
from mboa.providers.orange_money.config import OrangeMoneySettings
from mboa.providers.orange_money.mapping import raise_for_response
from mboa.providers.orange_money.wire import (
    Envelope,
    MpTransaction,
    PayBody,
    PayTokenData,
    TokenResponse,
    WebPayInit,
    WebPayInitResponse,
    WebPayStatusQuery,
    WebPayStatusResponse,
)
from mboa.providers.types import ProviderName

M = TypeVar("M", bound=BaseModel)

# Breaker/metric labels: one per Orange product (tokens are shared, so they get their own).
TOKEN = "token"
MP = "collection"
CASHIN = "disbursement"
WEBPAY = "webpay"
FAMILY = {MP: "mp", CASHIN: "cashin"}


def parse_body(model: type[M], response: httpx.Response, operation: str) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise MalformedResponse(
            f"Orange Money {operation}: unreadable body",
            provider=ProviderName.orange_money,
            operation=operation,
            http_status=response.status_code,
        ) from exc


def transaction(response: httpx.Response, operation: str) -> MpTransaction:
    envelope = parse_body(Envelope[MpTransaction], response, operation)
    if envelope.data is None:
        raise MalformedResponse(
            f"Orange Money {operation}: no data",
            provider=ProviderName.orange_money,
            operation=operation,
            http_status=response.status_code,
        )
    return envelope.data


class OrangeMoneyClient:
    def __init__(
        self, settings: OrangeMoneySettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.http = OperatorHttp(
            provider=ProviderName.orange_money,
            base_url=settings.base_url,
            resilience=settings.resilience,
            transport=transport,
        )
        self.webpay_http = OperatorHttp(
            provider=ProviderName.orange_money,
            base_url=settings.webpay.base_url,
            resilience=settings.resilience,
            transport=transport,
        )
        margin = settings.resilience.token_refresh_margin_seconds
        self.token = TokenCache(self._fetch_core_token, margin_seconds=margin)
        self.webpay_token = TokenCache(self._fetch_webpay_token, margin_seconds=margin)

    async def _fetch(
        self, http: OperatorHttp, product: str, path: str, key: str, secret: str
    ) -> tuple[str, float]:
        basic = base64.b64encode(f"{key}:{secret}".encode()).decode()

        async def once() -> httpx.Response:
            return await http.send(
                product=product,
                operation="token",
                method="POST",
                url=path,
                headers={"Authorization": f"Basic {basic}"},
                data={"grant_type": "client_credentials"},
                check=lambda r: raise_for_response(r, operation="token"),
            )

        token = parse_body(TokenResponse, await http.retrying(once), "token")
        return token.access_token, float(token.expires_in)

    async def _fetch_core_token(self) -> tuple[str, float]:
        s = self.settings
        return await self._fetch(
            self.http, TOKEN, s.token_path, s.consumer_key, s.consumer_secret.get_secret_value()
        )

    async def _fetch_webpay_token(self) -> tuple[str, float]:
        w = self.settings.webpay
        return await self._fetch(
            self.webpay_http, WEBPAY, w.token_path, w.client_id, w.client_secret.get_secret_value()
        )

    async def _core(
        self, product: str, operation: str, method: str, path: str, *, json: Any = None
    ) -> httpx.Response:
        for attempt in (1, 2):
            token = await self.token.get()
            headers = {
                "Authorization": f"Bearer {token}",
                "X-AUTH-TOKEN": self.settings.auth_token(),
                "Accept": "application/json",
            }
            try:
                return await self.http.send(
                    product=product,
                    operation=operation,
                    method=method,
                    url=f"{self.settings.api_path}{path}",
                    headers=headers,
                    json=json,
                    check=lambda r: raise_for_response(r, operation=operation),
                )
            except ProviderAuthError as exc:
                if exc.http_status != 401 or attempt == 2:
                    raise
                self.token.invalidate(token)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- omcoreapis (§2.2) ------------------------------------------------------------------

    async def init(self, product: str) -> str:
        family = FAMILY[product]

        async def once() -> httpx.Response:
            # No body (orangemoney-go `Init`). Repeating is harmless: an unused payToken expires.
            return await self._core(product, f"{family}_init", "POST", f"/{family}/init")

        envelope = parse_body(
            Envelope[PayTokenData], await self.http.retrying(once), f"{family}_init"
        )
        if envelope.data is None:
            raise MalformedResponse(
                "Orange Money init: no payToken", provider=ProviderName.orange_money
            )
        return envelope.data.payToken

    async def pay(self, product: str, body: PayBody) -> MpTransaction:
        """One `pay` attempt; not retried here (the adapter reads the status first)."""
        family = FAMILY[product]
        response = await self._core(
            product, f"{family}_pay", "POST", f"/{family}/pay", json=body.model_dump(mode="json")
        )
        return transaction(response, f"{family}_pay")

    async def status(self, product: str, pay_token: str) -> MpTransaction:
        family = FAMILY[product]

        async def once() -> httpx.Response:
            return await self._core(
                product, f"{family}_status", "GET", f"/{family}/paymentstatus/{pay_token}"
            )

        return transaction(await self.http.retrying(once), f"{family}_status")

    async def push(self, pay_token: str) -> MpTransaction:
        async def once() -> httpx.Response:
            return await self._core(MP, "mp_push", "GET", f"/mp/push/{pay_token}")

        return transaction(await self.http.retrying(once), "mp_push")

    # -- WebPay (§2.1) ----------------------------------------------------------------------

    async def _webpay(self, operation: str, path: str, json: dict[str, Any]) -> httpx.Response:
        for attempt in (1, 2):
            token = await self.webpay_token.get()
            try:
                return await self.webpay_http.send(
                    product=WEBPAY,
                    operation=operation,
                    method="POST",
                    url=f"/orange-money-webpay/{self.settings.webpay.country}/v1/{path}",
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    json=json,
                    check=lambda r: raise_for_response(r, operation=operation),
                )
            except ProviderAuthError as exc:
                if exc.http_status != 401 or attempt == 2:
                    raise
                self.webpay_token.invalidate(token)
        raise AssertionError("unreachable")  # pragma: no cover

    async def webpayment(self, body: WebPayInit) -> WebPayInitResponse:
        async def once() -> httpx.Response:
            return await self._webpay(
                "webpayment", "webpayment", body.model_dump(mode="json", exclude_none=True)
            )

        # Repeating is safe for money: a payment URL we never hand out cannot be paid.
        return parse_body(WebPayInitResponse, await self.webpay_http.retrying(once), "webpayment")

    async def webpay_status(self, query: WebPayStatusQuery) -> WebPayStatusResponse:
        async def once() -> httpx.Response:
            return await self._webpay(
                "transactionstatus", "transactionstatus", query.model_dump(mode="json")
            )

        return parse_body(
            WebPayStatusResponse, await self.webpay_http.retrying(once), "transactionstatus"
        )

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.webpay_http.aclose()
