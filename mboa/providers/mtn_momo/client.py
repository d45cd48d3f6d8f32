"""Raw MTN MoMo Open API calls (docs/providers-wire.md §1): one method per endpoint, no mapping."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from mboa.providers._http import OperatorHttp, TokenCache
from mboa.providers.errors import MalformedResponse, ProviderAuthError
from mboa.providers.mtn_momo.config import MtnMomoSettings, MtnProductCredentials
from mboa.providers.mtn_momo.mapping import raise_for_response
from mboa.providers.mtn_momo.wire import (
    AccountHolderActive,
    BalanceBody,
    RequestToPay,
    TokenResponse,
    TransactionStatusBody,
    Transfer,
)
from mboa.providers.types import Product, ProviderName

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], response: httpx.Response, operation: str) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise MalformedResponse(
            f"MTN MoMo {operation}: unreadable body",
            provider=ProviderName.mtn_momo,
            operation=operation,
            http_status=response.status_code,
        ) from exc


class MtnMomoClient:
    def __init__(
        self, settings: MtnMomoSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.http = OperatorHttp(
            provider=ProviderName.mtn_momo,
            base_url=settings.base_url,
            resilience=settings.resilience,
            transport=transport,
        )
        margin = settings.resilience.token_refresh_margin_seconds
        # One token per product: each product has its own subscription key and API user
        # (docs/providers-wire.md §1.1, §1.4).
        self.tokens = {
            product: TokenCache(self._token_fetcher(product), margin_seconds=margin)
            for product in Product
        }

    def credentials(self, product: Product) -> MtnProductCredentials:
        match product:
            case Product.collection:
                return self.settings.collection
            case Product.disbursement:
                return self.settings.disbursement

    def _token_fetcher(self, product: Product) -> Any:
        async def fetch() -> tuple[str, float]:
            creds = self.credentials(product)
            basic = base64.b64encode(
                f"{creds.api_user}:{creds.api_key.get_secret_value()}".encode()
            ).decode()

            async def once() -> httpx.Response:
                # No body: a body on the token call is a documented cause of 400 (§1.4).
                return await self.http.send(
                    product=product.value,
                    operation="token",
                    method="POST",
                    url=f"/{product.value}/token/",
                    headers={
                        "Authorization": f"Basic {basic}",
                        "Ocp-Apim-Subscription-Key": creds.subscription_key.get_secret_value(),
                    },
                    check=lambda r: raise_for_response(r, operation="token"),
                )

            response = await self.http.retrying(once)
            token = parse_body(TokenResponse, response, "token")
            return token.access_token, float(token.expires_in)

        return fetch

    async def _product_call(
        self,
        product: Product,
        operation: str,
        method: str,
        url: str,
        *,
        json: Any = None,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call with a valid token; a 401 drops the cached token and tries once more
        (the operator may have revoked it before its announced expiry)."""
        creds = self.credentials(product)
        cache = self.tokens[product]
        for attempt in (1, 2):
            token = await cache.get()
            headers = {
                "Authorization": f"Bearer {token}",
                "Ocp-Apim-Subscription-Key": creds.subscription_key.get_secret_value(),
                "X-Target-Environment": self.settings.target_environment,
            }
            headers.update(extra_headers or {})
            try:
                return await self.http.send(
                    product=product.value,
                    operation=operation,
                    method=method,
                    url=url,
                    headers=headers,
                    json=json,
                    check=lambda r: raise_for_response(r, operation=operation),
                )
            except ProviderAuthError as exc:
                if exc.http_status != 401 or attempt == 2:
                    raise
                cache.invalidate(token)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- collection (§1.5, §1.6) -----------------------------------------------------------

    async def request_to_pay(
        self, reference: str, body: RequestToPay, *, callback_url: str | None
    ) -> None:
        headers = {"X-Reference-Id": reference, "Content-Type": "application/json"}
        if callback_url:
            headers["X-Callback-Url"] = callback_url

        async def once() -> None:
            await self._product_call(
                Product.collection,
                "requesttopay",
                "POST",
                "/collection/v1_0/requesttopay",
                json=body.model_dump(mode="json", exclude_none=True),
                extra_headers=headers,
            )

        # Safe to repeat: the same X-Reference-Id makes MTN answer 409, never pay twice (§5.1).
        await self.http.retrying(once)

    async def request_to_pay_status(self, reference: str) -> TransactionStatusBody:
        async def once() -> httpx.Response:
            return await self._product_call(
                Product.collection,
                "requesttopay_status",
                "GET",
                f"/collection/v1_0/requesttopay/{reference}",
            )

        return parse_body(
            TransactionStatusBody, await self.http.retrying(once), "requesttopay_status"
        )

    # -- disbursement (§1.8) ----------------------------------------------------------------

    async def transfer(self, reference: str, body: Transfer, *, callback_url: str | None) -> None:
        headers = {"X-Reference-Id": reference, "Content-Type": "application/json"}
        if callback_url:
            headers["X-Callback-Url"] = callback_url

        async def once() -> None:
            await self._product_call(
                Product.disbursement,
                "transfer",
                "POST",
                "/disbursement/v1_0/transfer",
                json=body.model_dump(mode="json", exclude_none=True),
                extra_headers=headers,
            )

        await self.http.retrying(once)

    async def transfer_status(self, reference: str) -> TransactionStatusBody:
        async def once() -> httpx.Response:
            return await self._product_call(
                Product.disbursement,
                "transfer_status",
                "GET",
                f"/disbursement/v1_0/transfer/{reference}",
            )

        return parse_body(TransactionStatusBody, await self.http.retrying(once), "transfer_status")

    # -- account (§1.7) ---------------------------------------------------------------------

    async def balance(self, product: Product) -> BalanceBody:
        async def once() -> httpx.Response:
            return await self._product_call(
                product, "balance", "GET", f"/{product.value}/v1_0/account/balance"
            )

        return parse_body(BalanceBody, await self.http.retrying(once), "balance")

    async def account_holder_active(self, product: Product, msisdn: str) -> AccountHolderActive:
        async def once() -> httpx.Response:
            return await self._product_call(
                product,
                "accountholder_active",
                "GET",
                f"/{product.value}/v1_0/accountholder/msisdn/{msisdn}/active",
            )

        return parse_body(
            AccountHolderActive, await self.http.retrying(once), "accountholder_active"
        )

    async def aclose(self) -> None:
        await self.http.aclose()
