"""Per-key and per-client rate limits in Redis (the `limits` library).

Fixed windows, one Redis round trip (INCR with expiry) per request: measured on the hot path, the
sliding-window counter cost about a third of an authenticated GET's CPU for the same purpose
(docs/benchmarks.md). A window starts at its first hit, so bursts are bounded by the limit.

Limits protect the platform; they are not what money depends on. When Redis is slow or
unreachable, an API-key request or an operator callback is served without its limit (a warning
and `mboa_rate_limit_unavailable_total`) rather than failing a payment. Sign-up, login and token
refresh fail closed instead (503): there the limit is what stops password guessing. Any other
Redis error (wrong password, a read-only replica, out of memory) is not an outage to ride
through: it fails the request, and `/readyz` reports it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import time
from typing import Any

import structlog
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from prometheus_client import Counter
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mboa.config import RateLimitSettings
from mboa.exceptions import ServiceUnavailable, TooManyRequests

log = structlog.get_logger("mboa.ratelimit")
LIMITER_UNAVAILABLE = Counter(
    "mboa_rate_limit_unavailable_total",
    "Requests served without a rate-limit decision because Redis did not answer in time",
)


class RateLimiter:
    def __init__(self, redis_url: str, settings: RateLimitSettings) -> None:
        self.settings = settings
        # One deadline per decision (`_hit`) instead of redis-py's per-socket-operation timeout,
        # which wraps every command in a task of its own (asyncio.wait_for).
        options: dict[str, Any] = {"socket_timeout": None}
        self.storage = RedisStorage(
            redis_url.replace("redis://", "async+redis://", 1),
            implementation="redispy",
            key_prefix="mboa:ratelimit",
            **options,
        )
        self.strategy = FixedWindowRateLimiter(self.storage)
        self.test_item = RateLimitItemPerSecond(settings.test_per_second)
        self.live_item = RateLimitItemPerSecond(settings.live_per_second)
        self.anonymous_item = RateLimitItemPerMinute(settings.anonymous_per_minute)
        self.login_account_item = RateLimitItemPerSecond(
            settings.login_failures_per_account, settings.login_lockout_seconds
        )
        self.two_factor_item = RateLimitItemPerSecond(
            settings.two_factor_failures_per_account, settings.login_lockout_seconds
        )
        self.checkout_address_item = RateLimitItemPerMinute(
            settings.checkout_per_address_per_minute
        )
        self.checkout_phone_item = RateLimitItemPerSecond(
            settings.checkout_per_phone_per_hour, 3600
        )
        self.timeout = settings.redis_timeout_ms / 1000

    async def _hit(
        self,
        item: RateLimitItem,
        identity: str,
        *,
        fail_open: bool = True,
        consume: bool = True,
        message: str = "Too many requests hit the API too quickly. Retry with exponential backoff.",
        param: str | None = None,
    ) -> None:
        """Count one request against `identity` (or, `consume=False`, only look), 429 when over."""
        if not self.settings.enabled:
            return
        try:
            async with asyncio.timeout(self.timeout):
                if await (self.strategy.hit if consume else self.strategy.test)(item, identity):
                    return
                stats = await self.strategy.get_window_stats(item, identity)
        except (TimeoutError, RedisTimeoutError, RedisConnectionError, OSError) as exc:
            self._unavailable(exc, fail_open=fail_open)
            return
        raise TooManyRequests(
            message, param=param, headers={"Retry-After": _seconds_until(stats.reset_time)}
        )

    def _unavailable(self, exc: BaseException, *, fail_open: bool) -> None:
        """Redis did not answer: carry on unlimited (fail open) or answer 503 (fail closed)."""
        if isinstance(exc, AuthenticationError):  # configuration, not an outage
            raise exc
        LIMITER_UNAVAILABLE.inc()
        log.warning("rate_limit_unavailable", error=type(exc).__name__, fail_open=fail_open)
        if not fail_open:
            raise ServiceUnavailable(
                "This is briefly unavailable. Retry in a few seconds.",
                headers={"Retry-After": "5"},
            ) from exc

    async def hit_key(self, identity: str, *, livemode: bool) -> None:
        await self._hit(self.live_item if livemode else self.test_item, identity)

    async def hit_checkout(self, client: str, action: str, phone_digits: str | None) -> None:
        """A payment page's action that prompts a phone or opens a session: per client address,
        then per phone number (hashed: no numbers in Redis keys). Fails open, as payments do."""
        message = "Too many tries. Wait a minute and try again."
        await self._hit(self.checkout_address_item, f"checkout-{action}:{client}", message=message)
        if phone_digits:
            digest = hashlib.sha256(phone_digits[-9:].encode()).hexdigest()
            await self._hit(
                self.checkout_phone_item,
                f"checkout-phone:{digest}",
                message="Too many requests went to this phone number. Try again later.",
                param="phone",  # the page tells the payer it is the number, for up to an hour
            )

    async def hit_anonymous(self, client: str, action: str) -> None:
        """Sign-up, login and token refresh: limited per client address and action. Fails
        closed: without its limit, login would allow unlimited password guesses."""
        await self._hit(self.anonymous_item, f"{action}:{client}", fail_open=False)

    # Per-account login throttle: failed attempts per email, beside the per-address limit. The
    # email is hashed (no addresses in Redis keys) and never looked up: a locked email answers
    # the same whether or not an account has it. Fails closed, like the login limit.

    async def check_login_account(self, email: str) -> None:
        """429 (with Retry-After) while this email has used up its failed attempts."""
        await self._hit(
            self.login_account_item,
            _account_identity(email),
            fail_open=False,
            consume=False,
            message="Too many failed login attempts for this email. Retry later.",
        )

    async def login_failed(self, email: str) -> None:
        await self._account_call(self.strategy.hit, email)

    async def login_succeeded(self, email: str) -> None:
        """The owner got in: earlier failures no longer count against the account."""
        await self._account_call(self.strategy.clear, email)

    # Two-factor codes: failed codes per account (the email, hashed), whichever form they come
    # through (the API's login, the dashboard's second step, the Security page). Six digits are
    # guessable without it. Fails closed, like the login limit.

    async def check_two_factor(self, email: str) -> None:
        """429 (with Retry-After) while this account has used up its failed codes."""
        await self._hit(
            self.two_factor_item,
            _account_identity(email, "two_factor_account"),
            fail_open=False,
            consume=False,
            message="Too many wrong two-factor codes for this account. Retry later.",
        )

    async def two_factor_failed(self, email: str) -> None:
        await self._account_call(
            self.strategy.hit, email, self.two_factor_item, "two_factor_account"
        )

    async def two_factor_succeeded(self, email: str) -> None:
        await self._account_call(
            self.strategy.clear, email, self.two_factor_item, "two_factor_account"
        )

    async def _account_call(
        self,
        call: Any,
        email: str,
        item: RateLimitItem | None = None,
        kind: str = "login_account",
    ) -> None:
        if not self.settings.enabled:
            return
        try:
            async with asyncio.timeout(self.timeout):
                await call(item or self.login_account_item, _account_identity(email, kind))
        except (TimeoutError, RedisTimeoutError, RedisConnectionError, OSError) as exc:
            self._unavailable(exc, fail_open=True)  # the answer is already decided

    async def close(self) -> None:
        # limits does not expose closing its client; release the redis-py pool it holds.
        client = getattr(self.storage, "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()

    # -- operator callbacks: refused by a reason the caller counts (docs/providers.md) ----------

    @functools.cached_property
    def _callback_limits(self) -> tuple[tuple[str, RateLimitItem, str], ...]:
        settings = self.settings
        return (
            ("address_rate", RateLimitItemPerMinute(settings.callback_per_minute), "callback"),
            (
                "provider_rate",
                RateLimitItemPerMinute(settings.callback_per_provider_per_minute),
                "callback-provider",
            ),
            (
                "provider_bytes",
                RateLimitItemPerMinute(settings.callback_bytes_per_provider_per_minute),
                "callback-bytes",
            ),
        )

    async def refuse_callback(
        self, provider: str, client: str, stored_bytes: int
    ) -> tuple[str, int] | None:
        """`None` to accept an operator callback, else why not (`address_rate`,
        `provider_rate`, `provider_bytes`) and the seconds until a retry may pass.

        In that order, each spent only once the previous passed: one address's flood does not
        eat its provider's budget beyond its own limit. Fails open, as callbacks always did."""
        if not self.settings.enabled:
            return None
        identities = (client, provider, provider)
        costs = (1, 1, max(stored_bytes, 1))
        try:
            async with asyncio.timeout(self.timeout):
                for (reason, item, prefix), identity, cost in zip(
                    self._callback_limits, identities, costs, strict=True
                ):
                    if not await self.strategy.hit(item, prefix, identity, cost=cost):
                        stats = await self.strategy.get_window_stats(item, prefix, identity)
                        return reason, max(1, math.ceil(stats.reset_time - time.time()))
        except (TimeoutError, RedisTimeoutError, RedisConnectionError, OSError) as exc:
            if isinstance(exc, AuthenticationError):
                raise
            LIMITER_UNAVAILABLE.inc()
            log.warning("rate_limit_unavailable", error=type(exc).__name__, fail_open=True)
        return None


def _seconds_until(reset_time: float) -> str:
    return str(max(1, math.ceil(reset_time - time.time())))


def _account_identity(email: str, kind: str = "login_account") -> str:
    return f"{kind}:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()
