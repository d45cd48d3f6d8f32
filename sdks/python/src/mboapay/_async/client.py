"""The client: one HTTP connection pool, authentication, retries with the same Idempotency-Key.

Written for asyncio; `mboapay/_sync/` is generated from this folder by unasync
(scripts/sdk_models.py), so both clients behave alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
from typing_extensions import Self

from .._base import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    async_sleep,
    clean,
    headers,
    new_idempotency_key,
    query,
    retry_delay,
    should_retry,
)
from .._errors import (
    APIConnectionError,
    APITimeoutError,
    MboaError,
    decode_success,
    error_from_response,
)
from .resources import (
    Balance,
    BalanceTransactions,
    CheckoutSessions,
    Customers,
    Events,
    PaymentIntents,
    PaymentLinks,
    Payouts,
    Refunds,
    WebhookEndpoints,
)


class AsyncClient:
    """Mboa Pay's API.

    `api_key` defaults to `MBOA_API_KEY`, `base_url` to `MBOA_BASE_URL` (else the local
    `make run`, http://127.0.0.1:8000). Failed calls are retried `max_retries` times (connection
    errors, 409 `idempotency_key_in_use`, 429 after `Retry-After`, 5xx); every POST carries an
    `Idempotency-Key` (yours, or one made per call) that its retries reuse.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_key = api_key or os.environ.get("MBOA_API_KEY", "")
        self.base_url = (base_url or os.environ.get("MBOA_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self._headers = headers(self.api_key)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()

        self.payment_intents = PaymentIntents(self)
        self.checkout_sessions = CheckoutSessions(self)
        self.payment_links = PaymentLinks(self)
        self.refunds = Refunds(self)
        self.payouts = Payouts(self)
        self.customers = Customers(self)
        self.balance = Balance(self)
        self.balance_transactions = BalanceTransactions(self)
        self.events = Events(self)
        self.webhook_endpoints = WebhookEndpoints(self)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One logical call (tried up to `max_retries + 1` times); the decoded JSON answer."""
        response = await self._send(
            method, path, params=params, body=body, idempotency_key=idempotency_key
        )
        return decode_success(response)

    async def request_bytes(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        accept: str = "application/pdf",
    ) -> bytes:
        """One logical call whose answer is a file (a receipt's PDF): its bytes. Errors are
        the API's JSON error objects, raised as for `request`."""
        response = await self._send(method, path, params=params, accept=accept)
        return response.content

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        accept: str | None = None,
    ) -> httpx.Response:
        sent = dict(self._headers)
        if accept is not None:
            sent["Accept"] = f"{accept}, application/json"
        if method == "POST":
            sent["Idempotency-Key"] = idempotency_key or new_idempotency_key()
        retries = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.request(
                    method,
                    self.base_url + path,
                    params=query(params) if params else None,
                    json=clean(body) if body is not None else None,
                    headers=sent,
                    timeout=self.timeout,
                )
            except httpx.TimeoutException as exc:
                error: MboaError = APITimeoutError(f"no answer from {self.base_url}: {exc!r}")
            except httpx.TransportError as exc:
                error = APIConnectionError(f"could not reach {self.base_url}: {exc!r}")
            else:
                if response.is_success:
                    return response
                error = error_from_response(response)
                if not should_retry(response):
                    raise error
            delay = retry_delay(retries, response) if retries < self.max_retries else None
            if delay is None:
                raise error
            await async_sleep(delay)
            retries += 1

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
