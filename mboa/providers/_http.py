"""HTTP plumbing shared by the adapters: timeouts, circuit breaker, metrics, masked logs,
retries for calls that are safe to repeat, and the access-token cache.

Adapters only describe their wire (paths, bodies, error tables); everything here is generic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
import structlog
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from mboa.providers import breaker_board, metrics
from mboa.providers.errors import (
    CircuitOpen,
    InvalidRequest,
    ProviderAuthError,
    ProviderConfigurationError,
    ProviderError,
    ProviderInternalError,
    ProviderNotFound,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from mboa.providers.masking import mask_mapping, mask_text
from mboa.providers.resilience import ResilienceSettings
from mboa.providers.types import ProviderName

T = TypeVar("T")
log = structlog.get_logger("mboa.providers")

ResponseCheck = Callable[[httpx.Response], None]
"""Raises the adapter's `ProviderError` for a response that is not a success."""


def _outcome(exc: BaseException | None) -> str:
    match exc:
        case None:
            return "ok"
        case CircuitOpen():
            return "circuit_open"
        case ProviderTimeout():
            return "timeout"
        case ProviderUnavailable():
            return "unavailable"
        case ProviderAuthError():
            return "auth_error"
        case ProviderConfigurationError():
            return "config_error"
        case ProviderInternalError():
            return "internal_error"
        case ProviderNotFound():
            return "not_found"
        case ProviderRejected():
            return "rejected"
        case InvalidRequest():
            return "invalid"
        case _:
            return "error"


def _is_retryable(exc: BaseException) -> bool:
    # An open breaker is retryable for the caller later, not in a tight loop now.
    return isinstance(exc, ProviderError) and exc.retryable and not isinstance(exc, CircuitOpen)


class OperatorHttp:
    """One per adapter: an `httpx.AsyncClient` plus one circuit breaker per operator product."""

    def __init__(
        self,
        *,
        provider: ProviderName,
        base_url: str,
        resilience: ResilienceSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.resilience = resilience
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(
                resilience.timeout_seconds, connect=resilience.connect_timeout_seconds
            ),
            transport=transport,
            follow_redirects=False,
        )
        self.breakers = AsyncCircuitBreakerFactory(
            default_threshold=resilience.breaker_threshold,
            default_ttl=resilience.breaker_ttl_seconds,
        )
        self.breakers.add_listener(self._on_breaker_event)

    def _on_breaker_event(self, name: str, event_type: str, event: Any) -> None:
        if event_type == "state_changed":
            product = name.split(":", 1)[1]
            value = metrics.BREAKER_STATE_VALUES.get(event.state, 0)
            metrics.BREAKER_STATE.labels(self.provider.value, product).set(value)
            breaker_board.record(self.provider.value, product, str(event.state))
            log.warning(
                "provider.breaker", provider=self.provider.value, product=product, state=event.state
            )

    def breaker_name(self, product: str) -> str:
        return f"{self.provider.value}:{product}"

    async def breaker_state(self, product: str) -> str:
        breaker = await self.breakers.get_breaker(self.breaker_name(product))
        return str(breaker.context.state)

    async def send(
        self,
        *,
        product: str,
        operation: str,
        method: str,
        url: str,
        check: ResponseCheck,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One attempt: through the product's breaker, timed, logged with secrets masked."""
        breaker = await self.breakers.get_breaker(
            self.breaker_name(product),
            exclude=[(ProviderError, lambda exc: not exc.counts_for_breaker)],
        )
        started = time.perf_counter()
        error: BaseException | None = None
        status: int | None = None
        try:
            async with breaker:
                try:
                    response = await self.client.request(
                        method, url, headers=headers, json=json, data=data
                    )
                except httpx.TimeoutException as exc:
                    raise ProviderTimeout(
                        f"{self.provider.value} {operation}: no answer in time",
                        provider=self.provider,
                        operation=operation,
                        outcome_unknown=True,
                    ) from exc
                except httpx.TransportError as exc:
                    # A connection that failed before sending cannot have been processed, but a
                    # reset after sending can: stay on the safe side.
                    raise ProviderUnavailable(
                        f"{self.provider.value} {operation}: {type(exc).__name__}",
                        provider=self.provider,
                        operation=operation,
                        outcome_unknown=not isinstance(exc, httpx.ConnectError),
                    ) from exc
                status = response.status_code
                check(response)
                return response
        except OpenedState as exc:
            # purgatory raises the same OpenedState instance on every refused call: drop its
            # traceback so it does not grow for as long as the circuit stays open.
            exc.__traceback__ = None
            error = CircuitOpen(
                f"{self.provider.value} {product}: circuit open, not calling",
                provider=self.provider,
                operation=operation,
            )
            raise error from None
        except BaseException as exc:
            error = exc
            raise
        finally:
            elapsed = time.perf_counter() - started
            labels = (self.provider.value, product, operation)
            if not isinstance(error, CircuitOpen):
                metrics.CALL_DURATION.labels(*labels).observe(elapsed)
            metrics.CALLS.labels(*labels, _outcome(error)).inc()
            log.info(
                "provider.call",
                provider=self.provider.value,
                product=product,
                operation=operation,
                method=method,
                path=mask_text(url),
                http_status=status,
                outcome=_outcome(error),
                raw_code=getattr(error, "raw_code", None),
                duration_ms=round(elapsed * 1000, 1),
                request_headers=mask_mapping(dict(headers or {})),
                request_body=mask_mapping(json) if isinstance(json, Mapping) else None,
            )

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call` again on retryable failures, with exponential backoff and jitter.

        Only for calls that are safe to repeat: token requests, status reads, and creations
        re-sent with the same reference (docs/providers-wire.md §5.1)."""
        r = self.resilience
        unknown = False

        async def tracked() -> T:
            # A creation re-sent after a call whose outcome was unknown (a timeout) keeps that
            # unknown outcome whatever the later calls answer: the first may still be processed.
            nonlocal unknown
            try:
                return await call()
            except ProviderError as exc:
                unknown = unknown or exc.outcome_unknown
                exc.outcome_unknown = unknown
                raise

        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(r.retry_attempts),
            wait=wait_exponential_jitter(
                multiplier=r.retry_initial_seconds,
                max=r.retry_max_seconds,
                jitter=r.retry_jitter_seconds,
            ),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        ):
            with attempt:
                return await tracked()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def aclose(self) -> None:
        await self.client.aclose()


class TokenCache:
    """One access token, fetched on first use and refreshed `margin` seconds before it expires.

    Concurrent callers share one refresh. `invalidate` drops a token the operator refused early
    (for example after a restart of its token store)."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[tuple[str, float]]],
        *,
        margin_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = margin_seconds
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> str | None:
        if self._token is None or self._clock() >= self._refresh_at:
            return None
        return self._token

    async def get(self) -> str:
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:
            token = self._fresh()
            if token is not None:
                return token
            issued_at = self._clock()
            token, expires_in = await self._fetch()
            # Refresh `margin` early, but never make a short-lived token useless: keep at least
            # half of its lifetime.
            self._refresh_at = issued_at + max(expires_in - self._margin, expires_in / 2)
            self._token = token
            return token

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None
